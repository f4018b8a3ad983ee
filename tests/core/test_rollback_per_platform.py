"""A rollback restores what every platform was served before: a version published once per platform
rolls back on both, each to its own previous bundle; `platform` rolls back one platform only; a
rollback scoped to a platform and runtime version (AppDispatch's) touches only those devices."""
from __future__ import annotations

from conftest import check, make_zip
from support import run_otabox

from otabox.cli.publish import serving_line

APP = "com.example.demo"
ROLLBACK = f"/api/v1/apps/{APP}/channels/production/rollback"


def publish_per_platform(admin, version, rollout=100):
    for platform in ("ios", "android"):
        admin.publish(APP, version, files={"index.html": f"{version} {platform}"},
                      bundle_fields={"platform": platform}, rollout=rollout)


def offered(client, app, platform, **params):
    reply = check(client, app, platform=platform, version="builtin", deviceId=f"{platform}-phone", **params).json
    return reply["bundle"]["version"] if reply["updateAvailable"] else reply["reason"]


def test_rolling_back_a_version_published_per_platform_restores_both_platforms(admin, client, demo_app):
    publish_per_platform(admin, "1.0.2")
    publish_per_platform(admin, "1.0.3")
    preview = admin.post(ROLLBACK, {"dryRun": True}).json
    assert serving_line("production", preview["serves"], now=False) == (
        "production would serve on ios: 1.0.2 (v5) to 100% of devices; on android: 1.0.2 (v6) to 100% of devices")
    assert [(r["platform"], r["bundleVersion"]) for r in preview["releases"]] == [("ios", "1.0.2"), ("android", "1.0.2")]
    done = admin.post(ROLLBACK).json
    assert done["serves"] == preview["serves"]
    assert serving_line("production", done["serves"]) == (
        "production now serves on ios: 1.0.2 (v5) to 100% of devices; on android: 1.0.2 (v6) to 100% of devices")
    assert (offered(client, demo_app, "ios"), offered(client, demo_app, "android")) == ("1.0.2", "1.0.2")
    listed = admin.get(f"/api/v1/apps/{APP}/releases?channel=production").json["releases"]
    assert [(r["bundleVersion"], r["disabled"]) for r in listed if r["kind"] == "release"] == [
        ("1.0.3", True), ("1.0.3", True), ("1.0.2", False), ("1.0.2", False)]
    again = admin.post(ROLLBACK)
    assert again.status_code == 409 and again.json["error"]["code"] == "nothing_to_roll_back"
    assert (offered(client, demo_app, "ios"), offered(client, demo_app, "android")) == ("1.0.2", "1.0.2")


def test_rolling_back_one_platform_leaves_the_other_as_it_was(admin, client, demo_app):
    publish_per_platform(admin, "1.0.2")
    admin.publish(APP, "1.0.3", files={"index.html": "1.0.3 all"})
    done = admin.post(ROLLBACK, {"platform": "ios"}).json
    assert serving_line("production", done["serves"]) == (
        "production now serves on ios: 1.0.2 (v4) to 100% of devices; on android: 1.0.3 (v3) to 100% of devices")
    assert (offered(client, demo_app, "ios"), offered(client, demo_app, "android")) == ("1.0.2", "1.0.3")
    assert admin.post(ROLLBACK, {"platform": "web"}).status_code == 400


def test_rolling_back_a_canary_after_an_appdispatch_rollback_keeps_each_platform_on_what_it_had(
        admin, client, demo_app):
    admin.publish(APP, "1.0.2")
    scoped = admin.post("/v1/ota/rollback", {"runtimeVersion": "1.0.0", "platform": "ios", "channel": "production"},
                        headers={"X-Project": APP})
    assert scoped.status_code in (200, 201), scoped.json
    assert offered(client, demo_app, "ios") == "1.0.2", "the native check has no runtime version: not in that scope"
    assert offered(client, demo_app, "android") == "1.0.2"
    admin.publish(APP, "1.0.3", rollout=5)
    done = admin.post(ROLLBACK).json
    assert serving_line("production", done["serves"]) == (
        "production now serves on ios: the bundle built into the app (v4) to 100% of devices: they drop their "
        "downloaded update; on android: 1.0.2 (v5) to 100% of devices")
    assert (offered(client, demo_app, "ios"), offered(client, demo_app, "android")) == ("1.0.2", "1.0.2")


def test_channel_views_show_the_release_every_device_gets_with_the_scoped_rollback_beside(
        admin, client, box, demo_app):
    """After AppDispatch's rollback of iOS runtime 1.0.0, production still serves 1.1.1 to everyone
    else: the channel's views say so (`unscopedRelease`; `currentRelease` stays the newest release, as
    released versions answered), and name the rollback and its scope."""
    admin.publish(APP, "1.1.1")
    scoped = admin.post("/v1/ota/rollback", {"runtimeVersion": "1.0.0", "platform": "ios", "channel": "production"},
                        headers={"X-Project": APP})
    assert scoped.status_code == 201, scoped.json
    production = admin.get(f"/api/v1/apps/{APP}/channels/production").json
    assert production["currentRelease"]["kind"] == "builtin"  # the newest release, as earlier versions answered
    assert production["unscopedRelease"]["bundleVersion"] == "1.1.1"
    assert [(r["platform"], r["runtimeVersion"], r["bundleVersion"]) for r in production["scopedRollbacks"]] == [
        ("ios", "1.0.0", "builtin")]
    label = production["scopedRollbacks"][0]["label"]

    listed = run_otabox("channels", "list", "--app", APP, "--data-dir", str(box.config.data_dir))
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("production"))
    assert f"1.1.1 ({production['unscopedRelease']['label']}, 100%); ios runtime 1.0.0 rolled back to builtin " \
           f"({label})" in row

    capgo = client.get("/channel", query_string={"app_id": APP, "channel": "production"},
                       headers={"authorization": admin.key}).json
    assert capgo["version"] == {"id": production["unscopedRelease"]["bundleId"], "name": "1.1.1"}
    assert offered(client, demo_app, "android") == "1.1.1"
