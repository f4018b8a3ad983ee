"""Which id links a health report to a check that served the release, per protocol: otabox's
`deviceId`, CodePush's `client_unique_id`, Capgo's `device_id`, and for Expo the `expo-device-id`
(else `eas-client-id`) header of the manifest request with the `deviceId` of AppDispatch's report.
A report from that id is attested (it moves policies); the same report from another id is only shown."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
from conftest import check
from test_expo import directive_of, export_zip, get_manifest, manifest_of, upload_expo
from test_expo import publish as publish_expo

from otabox.core import decide, policies
from otabox.protocols.codepush.package import in_codepush_rollout
from otabox.store.models import utcnow

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


# --- claiming to run a staged release -----------------------------------------------------------

STAGED = [{"percentage": 5, "minDevices": 2, "minDurationMinutes": 0}, {"percentage": 100}]
CRASHES_ROLL_BACK = {"crashRate": 5, "errorRate": 20, "minLaunches": 10, "action": "auto-rollback"}


def outside_the_rollout(release, count=6):
    """Fresh device ids that a 5% rollout of `release` leaves out, by otabox's and CodePush's hash."""
    return list(itertools.islice((device for device in (f"claimer-{n}" for n in itertools.count())
                                  if decide.rollout_bucket(device, release["id"]) >= 500
                                  and not in_codepush_rollout(device, release["label"], 5)), count))


def inside_the_rollout(release):
    return next(device for device in (f"phone-{n}" for n in itertools.count())
                if decide.rollout_bucket(device, release["id"]) < 500)


def staged_zip_release(admin, policy):
    admin.publish(APP, "1.0.0", bundle_fields={"targetVersions": "1.0.0"})
    return admin.publish(APP, "1.0.1", bundle_fields={"targetVersions": "1.0.0"}, policyId=policy["id"])


def staged_expo_release(admin, client, tmp_path, policy):
    publish_expo(admin, tmp_path, "1.0.0")
    _, data = export_zip(tmp_path, "dist-staged", bundle_text="console.log('1.0.1')")
    bundle = upload_expo(admin, data, "1.0.1").json
    release = admin.release(APP, bundle["id"], "production", policyId=policy["id"]).json["release"]
    update_id = manifest_of(get_manifest(client, expo_device_id=inside_the_rollout(release)))["id"]
    return bundle, release, update_id


def claim_native(client, admin, app, device, staged):
    reply = check(client, app, deviceId=device, version="1.0.1", nativeVersion="1.0.0").json
    assert (reply["updateAvailable"], reply["reason"]) == (False, "up_to_date")


def claim_codepush(client, admin, app, device, staged):
    key = admin.get(f"/api/v1/apps/{APP}/channels/production").json["deploymentKey"]
    response = client.get("/v0.1/public/codepush/update_check", query_string={
        "deployment_key": key, "app_version": "1.0.0", "client_unique_id": device,
        "package_hash": staged["bundle"]["packageHash"]})
    assert response.json["update_info"]["is_available"] is False


def claim_capgo(client, admin, app, device, staged):
    response = client.post("/capgo/updates", json={
        "platform": "ios", "device_id": device, "app_id": APP, "version_build": "1.0.0", "version_code": "1",
        "version_os": "17.0", "version_name": "1.0.1", "plugin_version": "8.51.14", "is_emulator": False,
        "is_prod": True})
    assert response.json.get("error") == "no_new_version_available", response.json


def claim_koolbase(client, admin, app, device, staged):
    response = client.get("/v1/sdk/ota/check", query_string={"channel": "production", "version": "2",
                                                              "device_id": device},
                          headers={"x-api-key": app["clientKey"]})
    assert response.json == {"has_update": False}


def claim_expo(client, admin, app, device, staged):
    response = get_manifest(client, expo_device_id=device, expo_current_update_id=staged["update_id"])
    assert directive_of(response) == {"type": "noUpdateAvailable"}


@pytest.mark.parametrize("crashes", [12, 0], ids=["crashing", "healthy"])
@pytest.mark.parametrize("claim", [claim_native, claim_codepush, claim_capgo, claim_koolbase, claim_expo])
def test_claiming_to_run_a_staged_release_attests_nothing_and_moves_no_policy(admin, client, box, demo_app,
                                                                              tmp_path, claim, crashes):
    """Anyone can name the staged version (native `version`, CodePush `package_hash`, Capgo
    `version_name`, Koolbase's number, Expo's current update id): such a device is told it is up to
    date, but only a check whose rollout includes it attests it, so six fresh ids reporting twelve
    launches each neither roll the release back nor walk it to the next stage."""
    policy = admin.post(f"/api/v1/apps/{APP}/rollout-policies", {
        "name": "safe", "stages": STAGED, "thresholds": CRASHES_ROLL_BACK}).json
    if claim is claim_expo:
        bundle, release, update_id = staged_expo_release(admin, client, tmp_path, policy)
        staged = {"bundle": bundle, "update_id": update_id}
    else:
        bundle, release = staged_zip_release(admin, policy)
        staged = {"bundle": bundle}
    box.tracker.flush()
    claimers = outside_the_rollout(release)
    for device in claimers:
        claim(client, admin, demo_app, device, staged)
    box.tracker.flush()
    for device in claimers:
        events = [{"type": "app_launch", "count": 12}] + ([{"type": "crash", "count": crashes}] if crashes else [])
        response = client.post(f"/api/v1/apps/{APP}/health", headers={"X-Client-Key": demo_app["clientKey"]},
                               json={"deviceId": device, "platform": "ios", "bundleId": bundle["id"],
                                     "events": events})
        assert response.status_code == 204
    box.health.flush()
    with box.db.connection_context():
        assert policies.evaluate_running(utcnow() + dt.timedelta(minutes=60)) == {}
    health = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}/health").json
    assert (health["devices"], health["attestedDevices"], health["servedDevices"]) == (6, 0, len(
        [d for d in [inside_the_rollout(release)] if claim is claim_expo]))
    rollout = admin.get(f"/api/v1/apps/{APP}/channels/production").json
    assert rollout["currentRelease"]["id"] == release["id"] and rollout["currentRelease"]["rollout"] == 5


def test_a_device_served_before_its_rollout_shrank_still_attests(admin, client, box, demo_app):
    admin.publish(APP, "1.0.0", bundle_fields={"targetVersions": "1.0.0"})
    bundle, release = admin.publish(APP, "1.0.1", bundle_fields={"targetVersions": "1.0.0"}, rollout=50)
    device = next(d for d in (f"phone-{n}" for n in itertools.count())
                  if 500 <= decide.rollout_bucket(d, release["id"]) < 5000)
    native_check(client, admin, demo_app, device)  # served 1.0.1 at 50%
    box.tracker.flush()
    assert admin.patch(f"/api/v1/apps/{APP}/releases/{release['id']}", {"rollout": 5}).status_code == 200
    claim_native(client, admin, demo_app, device, {})  # left on it, outside the new 5%
    box.tracker.flush()
    native_report(client, demo_app, bundle, device)
    assert attested(admin, box, release) == 1
