"""Expo and AppDispatch (issue 15): critical updates in the manifest metadata, a channel's minimum
runtime version, the device id AppDispatch's SDK sends, build metadata on upload, and the rollback
of one platform and runtime version; the critical manifest also through the Expo conformance
harness against a live server."""
from __future__ import annotations

import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import requests
from conftest import LiveServer
from expo_conformance import node_check
from expo_fixture import make_export
from test_expo import APP, directive_of, expo_headers, get_manifest, manifest_of, publish

from otabox.core.decide import in_rollout
from otabox.core.serving import ReleaseView

API = f"/api/v1/apps/{APP}"


def test_a_mandatory_release_is_critical_in_the_manifest_metadata(admin, client, demo_app, tmp_path):
    _, _, first = publish(admin, tmp_path, "1.0.0")
    assert "isCritical" not in manifest_of(get_manifest(client))["metadata"]
    admin.patch(f"{API}/releases/{first['id']}", {"mandatory": True})
    assert manifest_of(get_manifest(client))["metadata"] == {"channel": "production", "version": "1.0.0",
                                                             "isCritical": True}


def test_min_runtime_version_leaves_older_runtimes_without_updates(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0", runtime="1.5.0")
    publish(admin, tmp_path, "2.0.0", runtime="2.1.0")
    admin.patch(f"{API}/channels/production", {"minRuntimeVersion": "2.0.0"})
    assert directive_of(get_manifest(client, runtime="1.5.0")) == {"type": "noUpdateAvailable"}
    assert manifest_of(get_manifest(client, runtime="2.1.0"))["metadata"]["version"] == "2.0.0"
    assert admin.patch(f"{API}/channels/production", {"minRuntimeVersion": ""}).status_code == 400
    admin.patch(f"{API}/channels/production", {"minRuntimeVersion": None})
    assert manifest_of(get_manifest(client, runtime="1.5.0"))["metadata"]["version"] == "1.0.0"


def test_the_appdispatch_device_id_decides_rollouts(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0")
    _, _, partial = publish(admin, tmp_path, "1.1.0")
    admin.patch(f"{API}/releases/{partial['id']}", {"rollout": 50})
    view = ReleaseView(id=partial["id"], kind="release", label="", bundle=None, rollout=50, mandatory=False,
                       disabled=False, notes="", created_at=None)
    inside = next(d for d in (f"d{n}" for n in range(100)) if in_rollout(d, view))
    outside = next(d for d in (f"d{n}" for n in range(100)) if not in_rollout(d, view))
    version = manifest_of(get_manifest(client, eas_client_id=outside, expo_device_id=inside))["metadata"]["version"]
    assert version == "1.1.0"
    assert manifest_of(get_manifest(client, eas_client_id=outside))["metadata"]["version"] == "1.0.0"


def test_expo_config_and_git_fields_come_with_the_upload(admin, client, demo_app, tmp_path):
    fixture = make_export(tmp_path / "dist")
    config = {"name": "From CI", "slug": "demo", "extra": {"build": 7}}
    bundle = admin.upload(APP, "1.0.0", fixture.zip_path.read_bytes(), format="expo", runtimeVersion="1.0.0",
                          expoConfig=json.dumps(config), gitCommitHash="0a1b2c3", gitBranch="main",
                          message="Fix the cart")
    assert bundle.status_code == 201, bundle.json
    assert (bundle.json["expoConfig"], bundle.json["gitBranch"], bundle.json["message"]) == (
        config, "main", "Fix the cart")
    admin.release(APP, bundle.json["id"])
    assert manifest_of(get_manifest(client))["extra"] == {"expoClient": config}
    refused = admin.upload(APP, "1.0.1", fixture.zip_path.read_bytes(), format="expo", runtimeVersion="1.0.0",
                           expoConfig="[1, 2]")
    assert refused.status_code == 400 and refused.json["error"]["details"] == {"field": "expoConfig"}


def test_rollback_one_platform_and_runtime_to_the_embedded_update(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0", runtime="1.0.0")
    publish(admin, tmp_path, "1.1.0", runtime="1.0.0")
    publish(admin, tmp_path, "2.0.0", runtime="2.0.0")
    ios = manifest_of(get_manifest(client, platform="ios"))
    rolled = admin.post(f"{API}/rollback", {"runtimeVersion": "1.0.0", "platform": "ios", "channel": "production"})
    assert rolled.status_code == 201, rolled.json
    assert (rolled.json["release"]["kind"], rolled.json["release"]["platform"],
            rolled.json["release"]["runtimeVersion"]) == ("builtin", "ios", "1.0.0")
    directive = directive_of(get_manifest(client, platform="ios", expo_current_update_id=ios["id"],
                                          expo_embedded_update_id=str(uuid.uuid4())))
    assert directive["type"] == "rollBackToEmbedded"
    assert manifest_of(get_manifest(client, platform="android"))["metadata"]["version"] == "1.1.0"
    assert manifest_of(get_manifest(client, platform="ios", runtime="2.0.0"))["metadata"]["version"] == "2.0.0"


def test_rollback_one_platform_to_a_named_update(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0")
    first = manifest_of(get_manifest(client, platform="ios"))
    publish(admin, tmp_path, "1.1.0")
    second = manifest_of(get_manifest(client, platform="ios"))
    rolled = admin.post(f"{API}/rollback", {"runtimeVersion": "1.0.0", "platform": "ios", "channelName": "production",
                                            "rollbackToUpdateId": first["id"]})
    assert rolled.status_code == 201, rolled.json
    again = manifest_of(get_manifest(client, platform="ios", expo_current_update_id=second["id"]))
    assert again["metadata"]["version"] == "1.0.0" and again["launchAsset"]["hash"] == first["launchAsset"]["hash"]
    assert manifest_of(get_manifest(client, platform="android"))["metadata"]["version"] == "1.1.0"
    mismatch = admin.post(f"{API}/rollback", {"runtimeVersion": "9.0.0", "platform": "ios", "channel": "production",
                                              "rollbackToUpdateId": first["id"]})
    assert mismatch.status_code == 409 and mismatch.json["error"]["code"] == "rollback_target_mismatch"
    assert admin.post(f"{API}/rollback", {"runtimeVersion": "1.0.0", "platform": "web",
                                          "channel": "production"}).status_code == 400
    assert admin.post(f"{API}/rollback", {"runtimeVersion": "1.0.0", "platform": "ios",
                                          "channel": "production", "rollbackToUpdateId": 999}).status_code == 404


def test_a_critical_manifest_passes_the_expo_conformance_harness(tmp_path):
    live = LiveServer(tmp_path / "data")
    try:
        key = live.cli("keys", "create", "--name", "ci").stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        assert requests.post(f"{live.url}/api/v1/apps", json={"slug": APP}, headers=auth).status_code == 201
        fixture = make_export(tmp_path / "dist")
        with open(fixture.zip_path, "rb") as stream:
            bundle = requests.post(f"{live.url}{API}/bundles", headers=auth, files={"file": ("dist.zip", stream)},
                                   data={"version": "1.0.0", "format": "expo", "runtimeVersion": "1.0.0"}).json()
        requests.post(f"{live.url}{API}/releases", json={"bundleId": bundle["id"], "mandatory": True}, headers=auth)
        report = node_check(f"{live.url}/expo/{APP}/manifest", expo_headers(expo_api_version="1"))
        assert report["errors"] == [] and report["assetsVerified"] is True
        assert report["manifest"]["metadata"]["isCritical"] is True
    finally:
        live.stop()


def test_assets_reach_expo_updates_with_their_type_and_outlive_a_cached_manifest(admin, client, demo_app, tmp_path):
    """The launch asset goes to expo-updates (its Expo headers) as application/javascript, as the spec
    requires; anything else asking gets today's inert octet-stream attachment. Asset URLs stay valid
    for OTABOX_EXPO_ASSET_URL_TTL (30 days), not an hour."""
    publish(admin, tmp_path, "1.0.0")
    launch = manifest_of(get_manifest(client))["launchAsset"]
    assert launch["contentType"] == "application/javascript"
    path = launch["url"][launch["url"].index("/dl/"):]
    expires = int(parse_qs(urlsplit(launch["url"]).query)["expires"][0])
    assert expires > time.time() + 29 * 86400
    expo = client.get(path, headers={"expo-platform": "ios", "expo-api-version": "1"})
    assert expo.status_code == 200 and expo.mimetype == "application/javascript"
    assert "sandbox" in expo.headers["Content-Security-Policy"] and expo.headers["Vary"] == "expo-platform"
    browser = client.get(path)
    assert browser.mimetype == "application/octet-stream" and browser.headers["Content-Disposition"].startswith(
        "attachment")
    assert browser.data == expo.data
