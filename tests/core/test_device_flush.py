"""The device buffer's flush: what devices report outside checks, and rows the database refuses."""
from __future__ import annotations

from otabox.core.releases import count_stat
from otabox.store.models import App, Device


def device(box, device_id):
    with box.db.connection_context():
        return Device.get_or_none(Device.device_id == device_id)


def test_reports_outside_checks_are_written_at_the_flush_and_keep_what_they_do_not_name(box, admin, demo_app):
    tracker = box.tracker
    tracker.reported(demo_app["id"], "phone", {"custom_id": "user-7", "is_prod": True})
    assert device(box, "phone") is None  # nothing is written by the request itself
    tracker.flush()
    row = device(box, "phone")
    assert (row.custom_id, row.is_prod, row.platform, row.first_seen is not None) == ("user-7", True, "", True)
    tracker.seen(demo_app["id"], "phone", None, platform="ios", native_version="2.0", native_build=5,
                 bundle_version=None, channel="production", os_version="17.1")
    tracker.reported(demo_app["id"], "phone", {"plugin_version": "8.51.0"})
    tracker.flush()
    row = device(box, "phone")
    assert (row.custom_id, row.plugin_version, row.os_version, row.platform) == ("user-7", "8.51.0", "17.1", "ios")


def test_a_device_of_an_app_deleted_before_the_flush_is_dropped_and_the_rest_written(box, admin, demo_app):
    other = admin.post("/api/v1/apps", {"slug": "com.example.other"}).json
    box.tracker.seen(other["id"], "doomed", None, platform="ios")
    box.tracker.reported(other["id"], "doomed-too", {"custom_id": "x"})
    box.tracker.seen(demo_app["id"], "kept", None, platform="android")
    assert admin.delete(f"/api/v1/apps/{other['slug']}").status_code == 200
    box.tracker.flush()
    assert device(box, "kept").platform == "android"
    assert device(box, "doomed") is None and device(box, "doomed-too") is None
    with box.db.connection_context():
        assert App.select().count() == 1
    box.tracker.seen(demo_app["id"], "later", None, platform="ios")
    assert box.tracker.flush() == 1  # nothing of the refused batch is left to block the next one


def test_a_release_checked_by_a_large_fleet_for_months_counts_past_two_billion(box, admin, demo_app):
    """A million devices checking five times a day pass 2**31 checks of one release in fourteen
    months, ten million in six weeks: the counters hold 64 bits on every engine."""
    bundle = admin.upload(demo_app["slug"], "1.0.0").json
    release = admin.release(demo_app["slug"], bundle["id"]).json["release"]
    with box.db.connection_context():
        count_stat(release["id"], "check", 2**31 - 1)
    box.tracker.seen(demo_app["id"], "phone", release["id"], platform="ios")
    assert box.tracker.flush() == 1
    listed = admin.get(f"/api/v1/apps/{demo_app['slug']}/releases").json["releases"]
    assert [entry["stats"]["checks"] for entry in listed if entry["id"] == release["id"]] == [2**31]
