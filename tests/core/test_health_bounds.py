"""Health storage is bounded by design: a flood of keyless reports from fresh device ids, on both
health endpoints, adds a bounded number of rows while management writes keep being answered; and
the janitor prunes health and flag telemetry past the retention horizon."""
from __future__ import annotations

import datetime as dt
import threading

from conftest import check, make_zip

from otabox.core import health
from otabox.ops.maintenance import tidy
from otabox.store.models import (
    FlagContext,
    FlagEvaluationCount,
    FlagVariantHealth,
    HealthBucket,
    HealthDevice,
    HealthError,
    TelemetryEvent,
    utcnow,
)

APP = "com.example.demo"
FLOOD_REQUESTS = 240
UNATTESTED_CAP = 50


def flood_body(n: int, bundle_id: int) -> dict:
    """The worst one request may carry: the most events, each with the most made-up flag states,
    a distinct error message each, and one real flag with a value it does not have (300 KB: within
    the 512 KB a health report may have)."""
    states = {**{f"made-up-{n}-{k}": "x" * 40 for k in range(health.MAX_FLAGS - 1)}, "new-checkout": "nope"}
    events = [{"type": kind, "count": health.MAX_COUNT, "message": f"boom {n} {e}", "flagStates": states}
              for e, kind in enumerate(["app_launch", "crash", "js_error", "custom"] * 25)]
    for event in events:
        if event["type"] == "custom":
            event["name"] = f"event-{n}-{event['message']}"
    return {"deviceId": f"fresh-{n}", "platform": "ios", "bundleId": bundle_id, "events": events}


def table_rows(box) -> dict:
    with box.db.connection_context():
        return {model.__name__: model.select().count()
                for model in (HealthBucket, HealthDevice, HealthError, FlagVariantHealth)}


def test_a_flood_of_fresh_devices_adds_bounded_rows_and_management_writes_go_through(admin, client, box,
                                                                                      demo_app, monkeypatch):
    monkeypatch.setattr(health, "MAX_UNATTESTED_DEVICES", UNATTESTED_CAP)
    bundle = admin.upload(APP, "1.0.0", make_zip({"index.html": "1"})).json
    release = admin.release(APP, bundle["id"]).json["release"]
    admin.post(f"/api/v1/apps/{APP}/flags", {"key": "new-checkout", "flagType": "boolean"})
    stop = threading.Event()
    failures: list = []

    def flush_all_the_time():
        while not stop.is_set():
            try:
                box.health.flush()
            except Exception as exc:  # noqa: BLE001 (reported by the test)
                failures.append(exc)

    flusher = threading.Thread(target=flush_all_the_time)
    flusher.start()
    try:
        for n in range(FLOOD_REQUESTS):
            body = flood_body(n, bundle["id"])
            if n % 2:
                response = client.post("/v1/ota/health-metrics", json={**body, "projectSlug": APP,
                                                                        "updateUuid": None})
            else:
                response = client.post(f"/api/v1/apps/{APP}/health", json=body,
                                       headers={"X-Client-Key": demo_app["clientKey"]})
            assert response.status_code == 204, response.data
            if n % 40 == 0:
                written = admin.patch(f"/api/v1/apps/{APP}/releases/{release['id']}", {"notes": f"during {n}"})
                assert written.status_code == 200, written.json
    finally:
        stop.set()
        flusher.join()
    box.health.flush()
    assert failures == []
    rows = table_rows(box)
    assert rows["HealthDevice"] == UNATTESTED_CAP
    assert rows["HealthBucket"] <= 2  # this hour's, and the next one's if the hour turned
    assert rows["HealthError"] <= health.MAX_ERRORS_PER_RELEASE + 1
    assert rows["FlagVariantHealth"] == 0  # no state it reported is one the app's flag has
    with box.db.connection_context():
        buckets = list(HealthBucket.select())
    assert all(len(b.custom) <= health.MAX_CUSTOM_NAMES + 1 for b in buckets)
    assert sum(b.launches for b in buckets) <= FLOOD_REQUESTS * health.DEVICE_HOURLY_LIMITS["launches"]


def test_the_janitor_prunes_telemetry_past_the_horizon(admin, client, box, demo_app):
    bundle = admin.upload(APP, "1.0.0", make_zip({"index.html": "1"})).json
    release = admin.release(APP, bundle["id"]).json["release"]
    flag = admin.post(f"/api/v1/apps/{APP}/flags", {"key": "new-checkout", "flagType": "boolean"}).json
    assert admin.post(f"/api/v1/apps/{APP}/contexts", {"targetingKey": "by-hand"}).status_code == 201
    old = utcnow() - dt.timedelta(days=box.config.health_retention_days + 1)
    with box.db.connection_context():
        for moment, device in ((old, "old"), (utcnow(), "new")):
            HealthBucket.create(app=demo_app["id"], release=release["id"], bucket=health.bucket_of(moment))
            HealthDevice.create(release=release["id"], device_id=device, bucket=health.bucket_of(moment))
            HealthError.create(release=release["id"], kind="crash", fingerprint=device, message=device,
                               last_seen=moment)
            FlagVariantHealth.create(app=demo_app["id"], flag_key="new-checkout", variant="true",
                                     day=moment.strftime("%Y-%m-%d"))
            FlagEvaluationCount.create(flag=flag["id"], day=moment.strftime("%Y-%m-%d"), variant="on")
            FlagContext.create(app=demo_app["id"], kind="user", targeting_key=device, last_seen=moment)
            TelemetryEvent.create(app=demo_app["id"], at=moment, type="crash", device_id=device)
        FlagContext.update(last_seen=old).where(FlagContext.targeting_key == "by-hand").execute()
    with box.db.connection_context():
        done = tidy(box)
    assert (done["healthRows"], done["flagTelemetryRows"], done["eventRows"]) == (4, 2, 1)
    with box.db.connection_context():
        assert [d.device_id for d in HealthDevice.select()] == ["new"]
        assert sorted(c.targeting_key for c in FlagContext.select()) == ["by-hand", "new"]
        assert FlagEvaluationCount.select().count() == FlagVariantHealth.select().count() == 1
        assert [e.device_id for e in TelemetryEvent.select()] == ["new"]


def report_errors(client, box, demo_app, bundle_id: int, device_id: str, messages: list[str], count: int) -> None:
    """One health report of these JS error messages, written at once."""
    body = {"deviceId": device_id, "platform": "ios", "bundleId": bundle_id,
            "events": [{"type": "js_error", "message": message, "count": count} for message in messages]}
    assert client.post(f"/api/v1/apps/{APP}/health", headers={"X-Client-Key": demo_app["clientKey"]},
                       json=body).status_code == 204
    box.health.flush()


def test_never_served_devices_cannot_bury_a_served_device_s_errors(admin, client, box, demo_app):
    """The public-side attack: two reports from fresh ids with 50 distinct messages each filled the
    release's 100 messages, and a served phone's error went to "(other messages)". Never-served ids
    now hold at most 20 of them, and a served phone's message takes the place of the least counted."""
    bundle = admin.upload(APP, "1.0.0", make_zip({"index.html": "1"})).json
    release = admin.release(APP, bundle["id"]).json["release"]

    def report(device_id, messages, count=1):
        report_errors(client, box, demo_app, bundle["id"], device_id, messages, count)

    for n in range(5):  # 5 distinct messages each (a device's most), 25 in all
        report(f"fresh-{n}", [f"forged {n}-{k}" for k in range(50)])
    assert check(client, demo_app, deviceId="phone", version="builtin").status_code == 200
    box.tracker.flush()
    report("phone", ["TypeError: cart is undefined"], count=5)
    top = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json["topErrors"]
    assert [(e["message"], e["count"]) for e in top[:2]] == [("(other messages)", 5 * 45 + 5),
                                                             ("TypeError: cart is undefined", 5)]
    with box.db.connection_context():
        assert HealthError.select().where(HealthError.attested == False).count() == 20  # noqa: E712

    assert check(client, demo_app, deviceId="tablet", version="builtin").status_code == 200
    box.tracker.flush()
    report("phone", [f"phone {k}" for k in range(55)])  # a served device holds at most 5 messages
    report("tablet", [f"tablet {k}" for k in range(60)])
    with box.db.connection_context():
        assert HealthError.select().where(HealthError.message.startswith("phone ")).count() == 4
        assert HealthError.select().where(HealthError.message.startswith("tablet ")).count() == 5
        assert HealthError.get(HealthError.message == "(other messages)").count == 5 * 45 + 5 + 51 + 55


def test_a_few_served_ids_cannot_bury_a_real_phone_s_error(admin, client, box, demo_app, monkeypatch):
    """The public-side re-attack: two served ids (rollout membership can be computed offline) with
    50 distinct messages each filled the 100 places, and a served phone's error seen 3 times went to
    "(other messages)" while made-up ones seen once kept theirs. A device now holds at most 5
    messages, and a more frequent new message takes the place of the least counted one."""
    monkeypatch.setattr(health, "MAX_ERRORS_PER_RELEASE", 11)  # 2 x 5 forged + the other messages
    bundle = admin.upload(APP, "1.0.0", make_zip({"index.html": "1"})).json
    release = admin.release(APP, bundle["id"]).json["release"]

    def report(device_id, messages, count=1):
        report_errors(client, box, demo_app, bundle["id"], device_id, messages, count)

    for device_id in ("forger-1", "forger-2", "phone"):
        assert check(client, demo_app, deviceId=device_id, version="builtin").status_code == 200
    box.tracker.flush()
    for n in (1, 2):
        report(f"forger-{n}", [f"forged {n}-{k}" for k in range(50)])
    with box.db.connection_context():
        assert HealthError.select().count() == 11
    report("phone", ["REAL TypeError in checkout"], count=3)
    top = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json["topErrors"]
    assert [(e["message"], e["count"]) for e in top[:2]] == [("(other messages)", 2 * 45 + 1),
                                                             ("REAL TypeError in checkout", 3)]
    with box.db.connection_context():
        assert HealthError.select().count() == 11

    report("phone", ["ReferenceError in search"])  # seen once: it gives way to nothing seen as often
    with box.db.connection_context():
        assert HealthError.get(HealthError.message == "(other messages)").count == 2 * 45 + 2
