"""A 0.1.0 data directory upgraded to schema step 4: its releases have empty health, no execution,
and the outbox, leases and webhooks work on it; and step 8 (attested health) from every earlier
release's data directory."""
from __future__ import annotations

import json

import pytest
from conftest import RELEASED_DATA_DIRS, Api, make_key, make_zip, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.store import migrations
from otabox.core import health
from otabox.store.models import Device, FlagContext, HealthDevice, HealthError, Release, RolloutPolicy


@pytest.mark.empty_database
def test_old_releases_get_empty_health_and_new_features_work(tmp_path, database_url):
    data_dir = old_box(tmp_path / "data", database_url)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 4
        api = Api(app.test_client(), make_key(box, "admin", "upgrade-admin"))
        with box.db.connection_context():
            old = Release.select().order_by(Release.id).first()
            slug = old.app.slug
        health = api.get(f"/api/v1/apps/{slug}/releases/{old.id}/health").json
        assert (health["launches"], health["devices"], health["crashRate"], health["topErrors"]) == (0, 0, None, [])
        assert api.get(f"/api/v1/apps/{slug}/rollout-executions").json == {"executions": [], "total": 0}
        assert api.get("/api/v1/webhooks").json == {"webhooks": []}
        policy = api.post(f"/api/v1/apps/{slug}/rollout-policies", {"name": "p", "stages": [{"percentage": 50}]}).json
        bundle = api.upload(slug, "9.9.9", make_zip()).json
        started = api.release(slug, bundle["id"], policyId=policy["id"]).json
        assert started["release"]["rollout"] == 50 and started["execution"]["status"] == "running"
        with box.db.connection_context():
            assert box.scheduler.loop.run_once()  # takes the lease on the upgraded database
    finally:
        box.close()


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_step_8_keeps_earlier_health_counting_and_starts_remembering_served_releases(tmp_path, database_url,
                                                                                      fixture):
    """Devices that reported before the upgrade count as served (nothing recorded what they were
    served), earlier policies keep counting every device, contexts get their sizes, and a check now
    records the release it served."""
    data_dir = old_box(tmp_path / "data", database_url, fixture)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) >= 8
            assert all(row.served for row in HealthDevice.select())
            assert not any(policy.require_served_devices for policy in RolloutPolicy.select())
            assert all(c.size == len(c.targeting_key) + len(c.name) + len(json.dumps(c.attributes, separators=(",", ":")))
                       for c in FlagContext.select())
            assert Device.select().where(Device.served_release.is_null(False)).count() == 0
            release = Release.select().order_by(Release.id.desc()).first()
            slug = release.app.slug
        api = Api(app.test_client(), make_key(box, "admin", "upgrade-admin"))
        new_policy = api.post(f"/api/v1/apps/{slug}/rollout-policies", {"name": "new", "stages": [{"percentage": 9}]})
        assert new_policy.json["requireServedDevices"] is True
        box.tracker.seen(release.app_id, "upgraded-phone", release.id)
        box.tracker.flush()
        with box.db.connection_context():
            assert Device.get(Device.device_id == "upgraded-phone").served_release == release.id
    finally:
        box.close()


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_step_18_counts_earlier_devices_each_as_its_own_network_and_keeps_their_error_messages(
        tmp_path, database_url, fixture):
    """Devices that reported before the upgrade have no network: each counts on its own, so running
    policies keep their figures; their error messages count as a served device's (never given up for
    a never-served one's); a report now records the network it came from."""
    data_dir = old_box(tmp_path / "data", database_url, fixture)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 18
            assert all(row.network is None for row in HealthDevice.select())
            assert all(row.attested for row in HealthError.select())
            for release_id in {row.release_id for row in HealthDevice.select()}:
                launched = HealthDevice.select().where((HealthDevice.release == release_id)
                                                       & (HealthDevice.launched == True)).count()  # noqa: E712
                found = health.served_totals(release_id, 0, devices_per_network=1)
                assert (found.launched_devices, found.networks) == (launched, launched)
            release = Release.select().order_by(Release.id.desc()).first()
        box.tracker.seen(release.app_id, "upgraded-phone", release.id)
        box.tracker.flush()
        report = health.parse_report({"deviceId": "upgraded-phone", "platform": "ios",
                                      "events": [{"type": "app_launch"}]}, {})
        box.health.record(release.app_id, release.id, report, "203.0.113.9")
        box.health.flush()
        with box.db.connection_context():
            assert HealthDevice.get(HealthDevice.device_id == "upgraded-phone").network == "203.0.113.0/24"
    finally:
        box.close()
