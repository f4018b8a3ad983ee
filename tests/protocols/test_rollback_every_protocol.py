"""A rollback restores what every protocol's devices were served: 1.0.0 at 100%, then 1.1.0 at 10%,
then 1.2.0 at 10%; after rolling 1.2.0 back each device gets what it got before 1.2.0 (the same 10%
on 1.1.0, the rest on 1.0.0), whatever protocol it speaks."""
from __future__ import annotations

import json

import pytest
from conftest import check, make_zip
from expo_fixture import make_export
from test_expo import expo_headers, parts_of

APP = "com.example.demo"
DEVICES = [f"phone-{i}" for i in range(200)]


def zip_publisher(**upload):
    def publish(admin, tmp_path, version, rollout):
        bundle = admin.upload(APP, version, make_zip({"index.html": f"code {version}"}), **upload)
        assert bundle.status_code == 201, bundle.json
        assert admin.release(APP, bundle.json["id"], rollout=rollout).status_code == 201
    return publish


def expo_publish(admin, tmp_path, version, rollout):
    fixture = make_export(tmp_path / f"dist-{version}", bundle_text=f"console.log({version!r})")
    bundle = admin.upload(APP, version, fixture.zip_path.read_bytes(), format="expo", runtimeVersion="1.0.0")
    assert bundle.status_code == 201, bundle.json
    assert admin.release(APP, bundle.json["id"], rollout=rollout).status_code == 201


def native(client, app, device):
    reply = check(client, app, deviceId=device).json
    return reply["bundle"]["version"] if reply.get("updateAvailable") else None


def codepush(client, app, device):
    key = app["channelKeys"]
    reply = client.get("/v0.1/public/codepush/update_check", query_string={
        "deployment_key": key, "app_version": "1.0.0", "client_unique_id": device}).json["update_info"]
    return reply["package_hash"] if reply["is_available"] else None


def capgo(client, app, device):
    reply = client.post("/capgo/updates", json={
        "platform": "ios", "device_id": device, "app_id": APP, "version_build": "1.0.0", "version_code": "1",
        "version_os": "17.0", "version_name": "builtin", "plugin_version": "8.51.14", "is_emulator": False,
        "is_prod": True}).json
    return reply.get("version")


def flutter(client, app, device):
    reply = client.get("/v1/sdk/ota/check", query_string={"channel": "production", "version": "0",
                                                           "device_id": device},
                       headers={"x-api-key": app["clientKey"]}).json
    return reply["checksum"] if reply["has_update"] else None


def expo(client, app, device):
    response = client.get(f"/expo/{APP}/manifest", headers=expo_headers(eas_client_id=device))
    parts = parts_of(response)
    if "manifest" not in parts:
        return None
    return json.loads(parts["manifest"][1])["launchAsset"]["hash"]


PROTOCOLS = {"native": (zip_publisher(), native), "codepush": (zip_publisher(targetVersions="1.0.0"), codepush),
             "capgo": (zip_publisher(), capgo), "flutter": (zip_publisher(), flutter), "expo": (expo_publish, expo)}


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_device_shares_after_rolling_back_a_canary_are_those_before_it(admin, client, demo_app, tmp_path, protocol):
    publish, served = PROTOCOLS[protocol]
    demo_app = {**demo_app, "channelKeys": admin.get(f"/api/v1/apps/{APP}/channels/production").json["deploymentKey"]}
    publish(admin, tmp_path, "1.0.0", 100)
    publish(admin, tmp_path, "1.1.0", 10)
    before = {d: served(client, demo_app, d) for d in DEVICES}
    assert len(set(before.values())) == 2
    publish(admin, tmp_path, "1.2.0", 10)
    assert len({served(client, demo_app, d) for d in DEVICES}) == 3
    rolled = admin.post(f"/api/v1/apps/{APP}/channels/production/rollback")
    assert rolled.status_code == 201, rolled.json
    assert [(s["version"], s["share"]) for s in rolled.json["serves"]] == [("1.1.0", 10), ("1.0.0", 90)]
    assert {d: served(client, demo_app, d) for d in DEVICES} == before
