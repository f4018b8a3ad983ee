"""Which id links a health report to a check that served the release, per protocol: otabox's
`deviceId`, CodePush's `client_unique_id`, Capgo's `device_id`, and for Expo the `expo-device-id`
(else `eas-client-id`) header of the manifest request with the `deviceId` of AppDispatch's report.
A report from that id is attested (it moves policies); the same report from another id is only shown."""
from __future__ import annotations

import pytest
from conftest import check
from test_expo import get_manifest, manifest_of
from test_expo import publish as publish_expo

APP = "com.example.demo"


def native_report(client, app, bundle, device):
    response = client.post(f"/api/v1/apps/{APP}/health", headers={"X-Client-Key": app["clientKey"]}, json={
        "deviceId": device, "platform": "ios", "bundleId": bundle["id"], "events": [{"type": "app_launch"}]})
    assert response.status_code == 204


def native_check(client, admin, app, device):
    assert check(client, app, deviceId=device, version="builtin", nativeVersion="1.0.0").json["updateAvailable"]


def codepush_check(client, admin, app, device):
    key = admin.get(f"/api/v1/apps/{APP}/channels/production").json["deploymentKey"]
    response = client.get("/v0.1/public/codepush/update_check", query_string={
        "deployment_key": key, "app_version": "1.0.0", "client_unique_id": device})
    assert response.json["update_info"]["is_available"] is True


def capgo_check(client, admin, app, device):
    response = client.post("/capgo/updates", json={
        "platform": "ios", "device_id": device, "app_id": APP, "version_build": "1.0.0", "version_code": "1",
        "version_os": "17.0", "version_name": "builtin", "plugin_version": "8.51.14", "is_emulator": False,
        "is_prod": True})
    assert response.json["version"] == "1.0.0", response.json


def attested(admin, box, release):
    box.tracker.flush()
    box.health.flush()
    return admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json["attestedDevices"]


@pytest.mark.parametrize("served_by", [native_check, codepush_check, capgo_check])
def test_a_device_a_check_served_is_attested_and_another_is_not(admin, client, box, demo_app, served_by):
    bundle, release = admin.publish(APP, "1.0.0", bundle_fields={"targetVersions": "1.0.0"})
    served_by(client, admin, demo_app, "phone-1")
    box.tracker.flush()
    native_report(client, demo_app, bundle, "phone-1")
    native_report(client, demo_app, bundle, "never-checked")
    assert attested(admin, box, release) == 1
    shown = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json
    assert (shown["devices"], shown["servedDevices"], shown["launches"]) == (2, 1, 2)


@pytest.mark.parametrize("headers, device", [({"expo-device-id": "phone-x"}, "phone-x"), ({}, "client-1")])
def test_expo_manifest_requests_attest_appdispatch_reports(admin, client, box, demo_app, tmp_path, headers,
                                                            device):
    _, _, release = publish_expo(admin, tmp_path, "1.0.0")
    update_id = manifest_of(get_manifest(client, **headers))["id"]
    box.tracker.flush()
    for reporter in (device, "rn-device-1"):
        response = client.post("/v1/ota/health-metrics", json={
            "projectSlug": APP, "updateUuid": update_id, "deviceId": reporter, "platform": "ios",
            "events": [{"type": "app_launch", "count": 1}]})
        assert response.status_code == 204
    assert attested(admin, box, release) == 1


def test_a_report_before_the_check_is_attested_by_the_next_one(admin, client, box, demo_app):
    bundle, release = admin.publish(APP, "1.0.0", bundle_fields={"targetVersions": "1.0.0"})
    native_report(client, demo_app, bundle, "phone-1")
    assert attested(admin, box, release) == 0
    native_check(client, admin, demo_app, "phone-1")
    native_report(client, demo_app, bundle, "phone-1")
    box.health.flush()  # writes the buffered check first
    health = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json
    assert (health["attestedDevices"], health["launches"]) == (1, 2)
