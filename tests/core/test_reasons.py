"""Why a device gets no update: the native check's `reason`, one of decide.REASONS, through HTTP
(issue 13 item 5, with `below_native` from issue 15), including histories of several releases."""
from __future__ import annotations

import pytest
from conftest import check, unsigned

from otabox.core.decide import REASONS, in_rollout
from otabox.core.serving import ReleaseView

APP = "com.example.demo"


def reason(client, app, **params) -> str:
    reply = check(client, app, **params).json
    assert reply["updateAvailable"] is False, reply
    assert reply["reason"] in REASONS
    return reply["reason"]


def devices_outside(release: dict, count: int = 1) -> list[str]:
    view = ReleaseView(id=release["id"], kind="release", label="", bundle=None, rollout=release["rollout"],
                       mandatory=False, disabled=False, notes="", created_at=None)
    return [d for d in (f"phone-{n}" for n in range(200)) if not in_rollout(d, view)][:count]


def test_no_channel_no_release_and_up_to_date(client, admin, demo_app):
    assert reason(client, demo_app, channel="nope") == "no_channel"
    assert reason(client, demo_app) == "no_release"
    admin.publish(APP, "1.0.0")
    assert reason(client, demo_app, version="1.0.0") == "up_to_date"


def test_not_in_rollout_is_told_apart_from_no_release_and_up_to_date(client, admin, demo_app):
    first = admin.publish(APP, "1.0.0", rollout=10).release
    outside = devices_outside(first)[0]
    assert reason(client, demo_app, deviceId=outside) == "not_in_rollout"
    assert reason(client, demo_app) == "not_in_rollout"  # no device id: outside every partial rollout
    admin.patch(f"/api/v1/apps/{APP}/releases/{first['id']}", {"rollout": 100})
    second = admin.publish(APP, "1.1.0", rollout=10).release
    outside = devices_outside(second)[0]
    assert check(client, demo_app, deviceId=outside).json["bundle"]["version"] == "1.0.0"
    assert reason(client, demo_app, deviceId=outside, version="1.0.0") == "not_in_rollout"
    admin.patch(f"/api/v1/apps/{APP}/releases/{second['id']}", {"disabled": True})
    assert reason(client, demo_app, deviceId=outside, version="1.0.0") == "up_to_date"


def test_native_filters_name_themselves(client, admin, demo_app):
    admin.publish(APP, "2.5.0", bundle_fields={"minNativeBuild": 200, "targetVersions": "^2.0.0"})
    assert reason(client, demo_app, nativeBuild=100, nativeVersion="2.1.0") == "native_build_too_low"
    assert reason(client, demo_app, nativeVersion="2.1.0") == "native_build_too_low"
    assert reason(client, demo_app, nativeBuild=300, nativeVersion="1.9.0") == "native_version_not_targeted"
    assert check(client, demo_app, nativeBuild=300, nativeVersion="2.1.0").json["updateAvailable"] is True


def test_another_platforms_release_explains_less_than_ones_own(client, admin, demo_app):
    admin.publish(APP, "1.0.0", bundle_fields={"platform": "ios", "minNativeBuild": 50})
    admin.publish(APP, "1.1.0", bundle_fields={"platform": "android"})
    assert reason(client, demo_app, platform="ios", nativeBuild=10) == "native_build_too_low"
    assert reason(client, demo_app, platform="ios", nativeBuild=60, version="1.0.0") == "up_to_date"
    assert reason(client, demo_app, platform="ios", nativeBuild=10, channel="staging") == "no_release"
    admin.publish(APP, "1.2.0", channel="staging", bundle_fields={"platform": "android"})
    assert reason(client, demo_app, platform="ios", channel="staging") == "other_platform"


def test_blocked_below_native_and_revert_to_builtin(client, admin, demo_app):
    admin.patch(f"/api/v1/apps/{APP}/channels/production", {"blockUpgrades": "major"})
    admin.publish(APP, "2.0.0")
    blocked = unsigned(check(client, demo_app, version="1.0.0").json)
    assert blocked == {"updateAvailable": False, "reason": "blocked", "blocked": "major"}
    assert check(client, demo_app, version="builtin", nativeVersion="3.0.0").json["updateAvailable"] is True
    admin.post(f"/api/v1/apps/{APP}/channels/production/rollback", {"toBuiltin": True})
    assert unsigned(check(client, demo_app, version="2.0.0").json) == {
        "updateAvailable": False, "reason": "revert_to_builtin", "revertToBuiltin": True}


@pytest.mark.parametrize("guard,native,offered", [(True, "2.0.0", False), (True, "1.4.0", True),
                                                  (False, "2.0.0", True), (True, None, True)])
def test_disable_auto_update_under_native_holds_back_capgo_devices(client, admin, demo_app, guard, native, offered):
    """Capgo's guard: a bundle below a Capgo device's native version is never offered (new channels
    have it on); a device that sends no native version is not held back."""
    assert admin.get(f"/api/v1/apps/{APP}/channels/staging").json["disableAutoUpdateUnderNative"] is True
    admin.patch(f"/api/v1/apps/{APP}/channels/staging", {"disableAutoUpdateUnderNative": guard})
    admin.publish(APP, "1.5.0", channel="staging")
    reply = client.post("/capgo/updates", json={
        "platform": "ios", "device_id": "device-1", "app_id": APP, "version_name": "builtin", "version_code": "1",
        "version_os": "17.0", "plugin_version": "8.51.14", "is_emulator": False, "is_prod": True,
        "defaultChannel": "staging", **({"version_build": native} if native else {})}).json
    assert ("url" in reply) is offered
    if not offered:
        assert reply["error"] == "disable_auto_update_under_native"


@pytest.mark.parametrize("guard", [True, False])
def test_the_native_check_is_never_held_back_by_capgos_guard(client, admin, demo_app, guard):
    """otabox's native clients version bundles apart from the binary: a release targeted at ^2.0.0
    reaches a 2.1.0 device whatever the channel's disableAutoUpdateUnderNative."""
    admin.patch(f"/api/v1/apps/{APP}/channels/staging", {"disableAutoUpdateUnderNative": guard})
    admin.publish(APP, "1.5.0", channel="staging", bundle_fields={"targetVersions": "^2.0.0"})
    reply = check(client, demo_app, channel="staging", version="builtin", nativeVersion="2.1.0").json
    assert reply["updateAvailable"] is True and reply["bundle"]["version"] == "1.5.0"


def test_version_number_mode_holds_devices_below_the_bundles_min_update_version(client, admin, demo_app):
    admin.patch(f"/api/v1/apps/{APP}/channels/production", {"disableAutoUpdate": "version_number",
                                                            "disableAutoUpdateUnderNative": False})
    assert admin.get(f"/api/v1/apps/{APP}/channels/production").json["blockUpgrades"] == "version_number"
    admin.publish(APP, "3.1.0", bundle_fields={"minUpdateVersion": "3.0.0"})
    held = unsigned(check(client, demo_app, version="2.9.0").json)
    assert held == {"updateAvailable": False, "reason": "blocked", "blocked": "min_update_version"}
    assert check(client, demo_app, version="3.0.0").json["updateAvailable"] is True
    assert check(client, demo_app, version="builtin", nativeVersion="3.0.2").json["updateAvailable"] is True
