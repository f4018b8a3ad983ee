"""AppDispatch's health endpoint, as `@appdispatch/react-native`'s HealthReporter calls it.

The package is not published on npm (nor is @appdispatch/health-reporter), and it needs React
Native's runtime, so these tests send what its published source sends (src/health.ts `flush`):
`POST /v1/ota/health-metrics` with Content-Type application/json and
`{projectSlug, updateUuid (expo-updates' updateId, or null), deviceId, channel (default "default"),
platform, runtimeVersion ("unknown" without expo-updates), events}`, where events come from its
buffer: `{type, count}` plus `name`, `message` and `flagStates` ({flagKey: variation value}) when set."""
from __future__ import annotations

from test_expo import APP, get_manifest, manifest_of, publish

from otabox.store.models import FlagVariantHealth


def sdk_flush(client, update_uuid, events, channel="default", runtime="1.0.0", slug=APP, device="rn-device-1"):
    return client.post("/v1/ota/health-metrics", json={
        "projectSlug": slug, "updateUuid": update_uuid, "deviceId": device, "channel": channel, "platform": "ios",
        "runtimeVersion": runtime, "events": events})


def test_reports_count_on_the_release_of_the_expo_update(admin, client, box, demo_app, tmp_path):
    _, _, release = publish(admin, tmp_path, "1.0.0")
    admin.post(f"/api/v1/apps/{APP}/flags", {"key": "new-checkout", "flagType": "boolean"})
    update_id = manifest_of(get_manifest(client))["id"]
    events = [{"type": "app_launch", "count": 3, "flagStates": {"new-checkout": True}},
              {"type": "js_error", "count": 2, "message": "TypeError: x is undefined",
               "flagStates": {"new-checkout": True}},
              {"type": "custom", "name": "checkout_success", "count": 4}]
    response = sdk_flush(client, update_id.upper(), events)
    assert response.status_code == 204 and response.data == b""
    box.health.flush()
    health = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json
    assert (health["launches"], health["jsErrors"], health["devices"]) == (3, 2, 1)
    assert health["custom"] == {"checkout_success": 4}
    assert health["topErrors"][0]["message"] == "TypeError: x is undefined"
    with box.db.connection_context():
        row = FlagVariantHealth.get()
    assert (row.flag_key, row.variant, row.launches, row.js_errors) == ("new-checkout", "true", 3, 2)


def test_no_update_id_or_an_unknown_one_is_accepted_without_a_release(admin, client, box, demo_app, tmp_path):
    _, _, release = publish(admin, tmp_path, "1.0.0")
    assert sdk_flush(client, None, [{"type": "app_launch", "count": 1}], runtime="unknown").status_code == 204
    assert sdk_flush(client, "0b0e0e0e-0000-4000-8000-000000000000", [{"type": "crash", "count": 1}]).status_code == 204
    box.health.flush()
    assert admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json["launches"] == 0


def test_unknown_project_and_bad_bodies(client, demo_app):
    assert sdk_flush(client, None, [{"type": "app_launch", "count": 1}], slug="com.example.nope").status_code == 404
    missing = client.post("/v1/ota/health-metrics", json={"deviceId": "d", "platform": "ios",
                                                          "events": [{"type": "crash", "count": 1}]})
    assert missing.status_code == 400 and missing.json["error"]["details"]["field"] == "projectSlug"
    bad = sdk_flush(client, None, [{"type": "anr", "count": 1}])
    assert bad.status_code == 400 and set(bad.json["error"]) == {"code", "message", "details"}
    assert client.post("/v1/ota/health-metrics", data="not json",
                       content_type="application/json").status_code == 400
