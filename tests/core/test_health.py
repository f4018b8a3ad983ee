"""Health telemetry: the client endpoints, the batched aggregates, what the management API shows,
the failures other protocols report, and the per flag variant aggregates."""
from __future__ import annotations

import json

import pytest
from conftest import Api, check, make_key

from otabox.app import create_app
from otabox.config import Config
from otabox.core import health
from otabox.store.models import FlagVariantHealth, HealthBucket, HealthDevice, HealthError, utcnow

APP = "com.example.demo"


@pytest.fixture
def half_past(monkeypatch):
    """The health store's clock stopped at half past this hour, so no test straddles two hourly buckets."""
    moment = utcnow().replace(minute=30, second=0, microsecond=0)
    monkeypatch.setattr(health, "utcnow", lambda: moment)
    return moment


def report(client, app, body, key=None):
    return client.post(f"/api/v1/apps/{APP}/health", json=body,
                       headers={"X-Client-Key": key or app["clientKey"]})


def events(*items):
    return [dict(zip(("type", "count", "message", "name", "flagStates"), item)) for item in items]


def test_reports_are_accepted_at_once_and_written_in_one_batch(admin, client, box, demo_app, half_past):
    bundle, release = admin.publish(APP, "1.0.0")
    for device in ("d1", "d2", "d3"):
        body = {"deviceId": device, "platform": "ios", "bundleId": bundle["id"],
                "events": [{"type": "app_launch", "count": 2}, {"type": "js_error", "count": 1, "message": "boom"}]}
        response = report(client, demo_app, body)
        assert response.status_code == 204 and response.data == b""
    report(client, demo_app, {"deviceId": "d1", "platform": "ios", "bundleVersion": "1.0.0",
                              "events": [{"type": "crash", "count": 1, "message": "native crash"},
                                         {"type": "custom", "name": "checkout", "count": 5}]})
    with box.db.connection_context():
        assert HealthBucket.select().count() == 0  # nothing written per request
    assert box.health.flush() > 0
    with box.db.connection_context():
        assert HealthBucket.select().count() == 1
        assert HealthDevice.select().count() == 3
    got = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json
    assert (got["launches"], got["crashes"], got["jsErrors"], got["devices"]) == (6, 1, 3, 3)
    assert got["launchedDevices"] == 3
    assert got["crashRate"] == pytest.approx(100 / 6, abs=0.001)
    assert got["errorRate"] == 50.0 and got["crashFreeRate"] == pytest.approx(100 - 100 / 6, abs=0.001)
    assert got["topErrors"][0]["message"] == "boom" and got["topErrors"][0]["count"] == 3
    assert {e["message"] for e in got["topErrors"]} == {"boom", "native crash"}
    assert got["custom"] == {"checkout": 5}

    series = admin.get(f"/api/v1/apps/{APP}/health/timeseries?release={release['id']}&days=1").json
    assert series["bucketSeconds"] == 3600 and len(series["points"]) == 1
    point = series["points"][0]
    assert (point["launches"], point["crashes"], point["jsErrors"], point["devices"]) == (6, 1, 3, 3)
    assert admin.get(f"/api/v1/apps/{APP}/health/timeseries").json["points"][0]["launches"] == 6


def test_no_launches_means_no_rates(admin, client, box, demo_app):
    _, release = admin.publish(APP, "1.0.0")
    got = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json
    assert got["launches"] == 0 and got["crashRate"] is None and got["topErrors"] == []


def test_a_device_counts_once_per_release_and_hour_across_flushes(admin, client, box, demo_app, half_past):
    bundle, release = admin.publish(APP, "1.0.0")
    body = {"deviceId": "same", "platform": "android", "bundleId": bundle["id"], "events": [{"type": "app_launch",
                                                                                           "count": 1}]}
    for _ in range(3):
        report(client, demo_app, body)
        box.health.flush()
    got = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json
    assert got["launches"] == 3 and got["devices"] == 1
    assert admin.get(f"/api/v1/apps/{APP}/health/timeseries").json["points"][0]["devices"] == 1


def test_top_error_messages_are_bounded_and_counted(admin, client, box, demo_app, monkeypatch):
    monkeypatch.setattr(health, "MAX_ERRORS_PER_RELEASE", 3)
    bundle, release = admin.publish(APP, "1.0.0")
    body = {"deviceId": "d", "platform": "ios", "bundleId": bundle["id"],
            "events": [{"type": "js_error", "count": n + 1, "message": f"error {n}"} for n in range(5)]}
    report(client, demo_app, body)
    report(client, demo_app, {**body, "deviceId": "e", "events": [{"type": "js_error", "count": 6,
                                                                   "message": "error 5"}]})
    box.health.flush()
    with box.db.connection_context():
        rows = {e.message: e.count for e in HealthError.select()}
    assert rows == {"error 5": 6, "error 4": 5, "error 3": 4, health.OTHER: 1 + 2 + 3}
    long = {"deviceId": "d", "platform": "ios", "bundleId": bundle["id"],
            "events": [{"type": "crash", "count": 1, "message": "x" * 5000}]}
    assert report(client, demo_app, long).status_code == 204
    box.health.flush()
    top = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json["topErrors"]
    assert all(len(e["message"]) <= health.STORED_MESSAGE for e in top)


@pytest.mark.parametrize("body, field", [
    ({"platform": "ios", "events": [{"type": "app_launch", "count": 1}]}, "deviceId"),
    ({"deviceId": "d", "events": [{"type": "app_launch", "count": 1}]}, "platform"),
    ({"deviceId": "d", "platform": "ios", "events": []}, "events"),
    ({"deviceId": "d", "platform": "ios", "events": [{"type": "app_launch"}] * 501}, "events"),
    ({"deviceId": "d", "platform": "ios", "events": [{"type": "reboot", "count": 1}]}, "type"),
    ({"deviceId": "d", "platform": "ios", "events": [{"type": "crash", "count": 0}]}, "count"),
    ({"deviceId": "d", "platform": "ios", "events": [{"type": "crash", "count": True}]}, "count"),
    ({"deviceId": "d", "platform": "ios", "events": [{"type": "crash", "count": 1, "message": "m" * 9000}]},
     "message"),
    ({"deviceId": "d", "platform": "ios", "events": [{"type": "custom", "count": 1}]}, "name"),
    ({"deviceId": "d", "platform": "ios", "events": [{"type": "crash", "count": 1, "flagStates": [1]}]},
     "flagStates"),
    ({"deviceId": "d", "platform": "ios", "bundleId": "7", "events": [{"type": "crash", "count": 1}]}, "bundleId"),
    ({"deviceId": "x" * 201, "platform": "ios", "events": [{"type": "crash", "count": 1}]}, "deviceId"),
])
def test_bad_bodies_are_400_in_the_error_shape(admin, client, demo_app, body, field):
    response = report(client, demo_app, body)
    assert response.status_code == 400, response.data
    assert response.json["error"]["details"].get("field") == field


def test_the_client_key_is_required_and_devices_are_rate_limited(tmp_path):
    app = create_app(Config.from_env(data_dir=tmp_path / "d", device_flush_seconds=3600.0, client_rate_per_minute=3))
    try:
        client = app.test_client()
        demo = Api(client, make_key(app.config["BOX"])).post("/api/v1/apps", {"slug": APP}).json
        body = {"deviceId": "flood", "platform": "ios", "events": [{"type": "app_launch", "count": 1}]}
        assert report(client, demo, body, key="wrong").status_code == 401
        for _ in range(3):
            assert report(client, demo, body).status_code == 204
        limited = report(client, demo, body)
        assert limited.status_code == 429 and limited.headers["Retry-After"]
        assert report(client, demo, {**body, "deviceId": "another"}).status_code == 204
    finally:
        app.config["BOX"].close()


def make_flag(admin, key, flag_type, values):
    response = admin.post(f"/api/v1/apps/{APP}/flags", {
        "key": key, "flagType": flag_type, "defaultValue": values[0],
        "variations": [{"name": f"v{n}", "value": value} for n, value in enumerate(values)]})
    assert response.status_code == 201, response.json


def test_flag_states_build_per_variant_aggregates(admin, client, box, demo_app, half_past):
    bundle, _ = admin.publish(APP, "1.0.0")
    make_flag(admin, "new-checkout", "string", ["on", "off"])
    make_flag(admin, "theme", "json", [{"dark": True}, {"dark": False}])
    for device, variant, crash in (("a", "on", 1), ("b", "on", 0), ("c", "off", 0)):
        report(client, demo_app, {"deviceId": device, "platform": "ios", "bundleId": bundle["id"], "events": [
            {"type": "app_launch", "count": 2, "flagStates": {"new-checkout": variant, "theme": {"dark": True}}},
            {"type": "crash", "count": crash or 1, "flagStates": {"new-checkout": variant}} if crash else
            {"type": "js_error", "count": 1, "flagStates": {"new-checkout": variant}}]})
    report(client, demo_app, {"deviceId": "builtin-device", "platform": "ios",
                              "events": [{"type": "app_launch", "count": 1, "flagStates": {"new-checkout": "off"}}]})
    box.health.flush()
    with box.db.connection_context():
        app_id = FlagVariantHealth.select().first().app_id
        found = health.flag_variant_health(app_id, "new-checkout", days=1)
        theme = health.flag_variant_health(app_id, "theme", days=7)
    assert [(v["variant"], v["launches"], v["crashes"], v["jsErrors"]) for v in found] == [
        ("on", 4, 1, 1), ("off", 3, 0, 1)]
    assert found[0]["crashRate"] == 25.0 and found[0]["days"][0]["launches"] == 4
    assert theme[0]["variant"] == '{"dark":true}' and theme[0]["launches"] == 6


def test_only_the_app_s_flags_and_their_variations_are_kept(admin, client, box, demo_app, half_past):
    bundle, _ = admin.publish(APP, "1.0.0")
    make_flag(admin, "new-checkout", "string", ["on", "off"])
    states = {"new-checkout": "on", "not-a-flag": "on", **{f"made-up-{n}": n for n in range(40)}}
    report(client, demo_app, {"deviceId": "d", "platform": "ios", "bundleId": bundle["id"], "events": [
        {"type": "app_launch", "count": 1, "flagStates": states},
        {"type": "app_launch", "count": 1, "flagStates": {"new-checkout": "purple"}}]})
    box.health.flush()
    with box.db.connection_context():
        rows = [(r.flag_key, r.variant, r.launches) for r in FlagVariantHealth.select()]
    assert rows == [("new-checkout", "on", 1)]


@pytest.mark.parametrize("states, kept", [
    ({}, []),
    ({"f": "a"}, [("f", "a")]),
    ({"f": "zzz"}, []),
    ({"g": "a"}, []),
    ({"f": "a", "n": 1.0}, [("f", "a"), ("n", "1.0")]),
    ({"f": "a", "n": 1}, [("f", "a"), ("n", "1")]),
])
def test_reported_flag_states_are_filtered_by_the_app_s_variations(states, kept):
    reportable = {"f": frozenset({"a", "b"}), "n": frozenset({"1", "1.0"})}
    event = health.parse_event({"type": "app_launch", "flagStates": states}, reportable, set())
    assert list(event.flag_states) == kept


def test_distinct_flag_states_are_capped_per_request_and_per_device_hour(monkeypatch):
    monkeypatch.setattr(health, "MAX_FLAG_STATES", 2)
    reportable = {"f": frozenset({"a", "b", "c"}), "g": frozenset({"a", "b"})}
    parsed = health.parse_report({"deviceId": "d", "platform": "ios", "events": [
        {"type": "app_launch", "flagStates": {"f": "a", "g": "a"}},
        {"type": "app_launch", "flagStates": {"f": "b", "g": "a"}}]}, reportable)
    assert [e.flag_states for e in parsed.events] == [(("f", "a"), ("g", "a")), (("g", "a"),)]
    recorder = health.HealthRecorder(3600)
    first = recorder._within_allowance(1, parsed, health.bucket_of(utcnow()))
    later = health.parse_report({"deviceId": "d", "platform": "ios", "events": [
        {"type": "crash", "flagStates": {"f": "c"}}, {"type": "crash", "flagStates": {"f": "a"}}]}, reportable)
    second = recorder._within_allowance(1, later, health.bucket_of(utcnow()))
    assert [e.flag_states for e in first] == [(("f", "a"), ("g", "a")), (("g", "a"),)]
    assert [e.flag_states for e in second] == [(), (("f", "a"),)]


def test_failures_from_update_clients_feed_the_same_store(admin, client, box, demo_app):
    bundle, release = admin.publish(APP, "1.0.0")
    check(client, demo_app, deviceId="n1", version="builtin")
    events_response = client.post(f"/api/v1/apps/{APP}/events", headers={"X-Client-Key": demo_app["clientKey"]},
                                  json=[{"deviceId": "n1", "type": "failed", "bundleId": bundle["id"],
                                         "message": "checksum mismatch"},
                                        {"deviceId": "n2", "type": "rolled_back", "bundleId": bundle["id"]}])
    assert events_response.status_code == 200
    capgo = client.post("/capgo/stats", json={"app_id": APP, "device_id": "c1", "platform": "android",
                                              "action": "update_fail", "version_name": "1.0.0"})
    assert capgo.status_code == 200
    channels = admin.get(f"/api/v1/apps/{APP}/channels").json["channels"]
    key = next(c["deploymentKey"] for c in channels if c["name"] == "production")
    codepush = client.post("/v0.1/public/codepush/report_status/deploy", json={
        "deployment_key": key, "app_version": "1.0.0", "label": release["label"], "status": "DeploymentFailed",
        "client_unique_id": "cp1"})
    assert codepush.status_code == 200
    box.health.flush()
    got = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json
    assert got["failures"] == 4 and got["devices"] == 4
    messages = {e["message"] for e in got["topErrors"]}
    assert "failed: checksum mismatch" in messages and "DeploymentFailed" in messages
    assert any(m.startswith("update_fail") for m in messages)


def test_events_of_a_deleted_release_are_dropped_not_retried_forever(admin, client, box, demo_app):
    bundle, release = admin.publish(APP, "1.0.0", "staging")
    report(client, demo_app, {"deviceId": "d", "platform": "ios", "bundleId": bundle["id"], "channel": "staging",
                              "events": [{"type": "app_launch", "count": 1}]})
    assert admin.delete(f"/api/v1/apps/{APP}/channels/staging").status_code == 200
    box.health.flush()
    assert box.health.flush() == 0
    with box.db.connection_context():
        assert HealthBucket.select().count() == 0


def test_the_fast_path_and_the_flask_routes_answer_reports_alike(flask_app, client, admin, demo_app):
    """Health reports are answered before Flask builds a request; the Flask routes must agree."""
    bundle, _ = admin.publish(APP, "1.0.0")
    good = {"deviceId": "d", "platform": "ios", "bundleId": bundle["id"], "events": [{"type": "app_launch"}]}
    native, headers = f"/api/v1/apps/{APP}/health", {"X-Client-Key": demo_app["clientKey"]}
    cases = [(native, headers, json.dumps(good)), (native, headers, "not json"), (native, {}, json.dumps(good)),
             (native, headers, json.dumps({**good, "events": []})),
             ("/v1/ota/health-metrics", {}, json.dumps({**good, "projectSlug": APP})),
             ("/v1/ota/health-metrics", {}, json.dumps({**good, "projectSlug": "com.example.nope"})),
             ("/v1/ota/health-metrics", {}, json.dumps(good))]
    for path, extra, body in cases:
        fast = client.post(path, data=body, content_type="application/json", headers=extra)
        with flask_app.test_request_context(path, method="POST", data=body, content_type="application/json",
                                            headers=extra):
            endpoint, args = flask_app.url_map.bind("localhost").match(path, method="POST")
            slow = flask_app.view_functions[endpoint](**args)
        assert (fast.status_code, fast.get_data()) == (slow.status_code, slow.get_data()), (path, body)
        assert fast.status_code != 204 or "Content-Type" not in fast.headers


def test_distinct_error_messages_buffered_per_release_are_bounded(monkeypatch):
    monkeypatch.setattr(health, "MAX_ERRORS_PER_RELEASE", 2)
    recorder = health.HealthRecorder(3600)
    for n in range(50):
        recorder.record(1, 7, health.parse_report({"deviceId": f"d{n}", "platform": "ios", "events": [
            {"type": "app_launch"}, {"type": "crash", "message": f"crash {n}"}]}, {}))
    buffered = recorder._batch.errors
    assert len(buffered) == health.BUFFERED_ERRORS_FACTOR * 2 + 1
    assert buffered[(7, "other", health.OTHER)] == 50 - health.BUFFERED_ERRORS_FACTOR * 2
