"""Release control through HTTP: rollouts, mandatory, rollback, promote, targeting, devices, events."""
from __future__ import annotations

import pytest
from conftest import check, unsigned
from hypothesis import given, settings
from hypothesis import strategies as st

from otabox.core.decide import in_rollout, rollout_bucket
from otabox.core.serving import ReleaseView
from otabox.store.models import Device

APP = "com.example.demo"


def release_view(release_id: int, rollout: int) -> ReleaseView:
    return ReleaseView(id=release_id, kind="release", label="v1", bundle=None, rollout=rollout, mandatory=False,
                       disabled=False, notes="", created_at=None)


@settings(max_examples=200, deadline=None)
@given(device=st.text(min_size=1, max_size=40), release_id=st.integers(1, 10**9),
       low=st.integers(0, 100), high=st.integers(0, 100))
def test_rollout_membership_is_stable_and_monotone(device, release_id, low, high):
    low, high = sorted((low, high))
    in_low = in_rollout(device, release_view(release_id, low))
    assert in_low == in_rollout(device, release_view(release_id, low))
    if in_low:
        assert in_rollout(device, release_view(release_id, high))


@pytest.mark.parametrize("percent", [1, 5, 10, 50, 90])
def test_rollout_share_is_close_to_the_asked_share(percent):
    ids = [f"device-{i}" for i in range(10_000)]
    share = sum(in_rollout(d, release_view(77, percent)) for d in ids) / len(ids) * 100
    assert abs(share - percent) < 1.5
    assert all(0 <= rollout_bucket(d, 77) < 10_000 for d in ids[:100])


def offered(client, app, **params):
    reply = check(client, app, **params).json
    return reply["bundle"]["version"] if reply.get("updateAvailable") else None


def test_devices_outside_a_partial_rollout_get_the_previous_release(admin, client, demo_app):
    admin.publish(APP, "1.0.0")
    _, partial = admin.publish(APP, "1.1.0", rollout=10)
    devices = [f"phone-{i}" for i in range(400)]
    got = {d: offered(client, demo_app, deviceId=d) for d in devices}
    inside = {d for d, v in got.items() if v == "1.1.0"}
    assert set(got.values()) == {"1.0.0", "1.1.0"}
    assert 15 < len(inside) < 70
    assert offered(client, demo_app) == "1.0.0"  # no deviceId: outside any partial rollout
    widened = admin.patch(f"/api/v1/apps/{APP}/releases/{partial['id']}", {"rollout": 50})
    assert widened.json["rollout"] == 50
    after = {d for d in devices if offered(client, demo_app, deviceId=d) == "1.1.0"}
    assert inside <= after and len(after) > len(inside)


def test_a_new_release_does_not_complete_a_partial_one(admin, client, demo_app):
    admin.publish(APP, "1.0.0")
    _, partial = admin.publish(APP, "1.1.0", rollout=20)
    admin.publish(APP, "1.2.0", rollout=0)
    history = admin.get(f"/api/v1/apps/{APP}/releases").json["releases"]
    assert [(r["bundleVersion"], r["rollout"]) for r in history] == [("1.2.0", 0), ("1.1.0", 20), ("1.0.0", 100)]
    got = {offered(client, demo_app, deviceId=f"d{i}") for i in range(200)}
    assert got == {"1.0.0", "1.1.0"}


def test_disabled_releases_are_skipped(admin, client, demo_app):
    admin.publish(APP, "1.0.0")
    _, bad = admin.publish(APP, "1.1.0")
    admin.patch(f"/api/v1/apps/{APP}/releases/{bad['id']}", {"disabled": True})
    assert offered(client, demo_app, deviceId="x") == "1.0.0"


def test_mandatory_when_a_skipped_release_was_mandatory(admin, client, demo_app):
    admin.publish(APP, "1.0.0")
    admin.publish(APP, "1.1.0", mandatory=True)
    admin.publish(APP, "1.2.0")
    from_one = check(client, demo_app, version="1.0.0", deviceId="a").json["bundle"]
    assert (from_one["version"], from_one["mandatory"]) == ("1.2.0", True)
    from_one_one = check(client, demo_app, version="1.1.0", deviceId="a").json["bundle"]
    assert (from_one_one["version"], from_one_one["mandatory"]) == ("1.2.0", False)
    assert check(client, demo_app, version="builtin", deviceId="a").json["bundle"]["mandatory"] is True


def test_rollback_repoints_the_channel_and_keeps_history(admin, client, demo_app):
    _, first = admin.publish(APP, "1.0.0")
    _, second = admin.publish(APP, "1.1.0")
    back = admin.post(f"/api/v1/apps/{APP}/channels/production/rollback")
    assert back.status_code == 201
    assert (back.json["release"]["kind"], back.json["release"]["bundleVersion"]) == ("rollback", "1.0.0")
    assert back.json["previousRelease"]["id"] == second["id"]
    assert offered(client, demo_app, version="1.1.0", deviceId="x") == "1.0.0"
    history = admin.get(f"/api/v1/apps/{APP}/releases?channel=production").json
    assert history["total"] == 3
    assert [r["kind"] for r in history["releases"]] == ["rollback", "release", "release"]
    assert history["releases"][1]["disabled"] is True
    again = admin.post(f"/api/v1/apps/{APP}/channels/production/rollback")
    assert again.status_code == 409 and again.json["error"]["code"] == "nothing_to_roll_back"
    to_release = admin.post(f"/api/v1/apps/{APP}/channels/production/rollback", {"toReleaseId": second["id"]})
    assert to_release.json["release"]["bundleVersion"] == "1.1.0"
    assert first["id"] != second["id"]


def test_a_rollback_dry_run_says_what_the_channel_would_serve_and_changes_nothing(admin, client, demo_app):
    rollback = f"/api/v1/apps/{APP}/channels/production/rollback"
    assert admin.post(rollback, {"dryRun": True}).json["error"]["code"] == "nothing_to_roll_back"
    bundle, first = admin.publish(APP, "1.0.0")
    _, second = admin.publish(APP, "1.1.0", rollout=20)
    preview = admin.post(rollback, {"dryRun": True})
    assert preview.status_code == 200
    planned = {"channel": "production", "kind": "rollback", "label": "v3", "platform": None, "bundleId": bundle["id"],
               "bundleVersion": "1.0.0", "rollout": 100, "mandatory": False,
               "rolledBackFrom": admin.get(f"/api/v1/apps/{APP}/releases/{second['id']}").json}
    assert preview.json == {"dryRun": True, "release": planned, "releases": [planned],
                            "serves": [{"channel": "production", "platform": None, "release": second["id"] + 1,
                                        "label": "v3", "version": "1.0.0", "share": 100}]}
    builtin = admin.post(rollback, {"dryRun": True, "toBuiltin": True}).json
    assert (builtin["release"]["kind"], builtin["release"]["bundleVersion"], builtin["release"]["bundleId"]) == (
        "builtin", "builtin", None)
    assert builtin["serves"] == [{"channel": "production", "platform": None, "release": second["id"] + 1, "label": "v3",
                                  "version": "builtin", "share": 100}]
    assert admin.post(rollback, {"dryRun": "yes"}).status_code == 400
    assert admin.get(f"/api/v1/apps/{APP}/releases").json["total"] == 2
    done = admin.post(rollback).json
    assert {k: done["release"][k] for k in ("kind", "label", "bundleId", "rollout")} == {
        k: preview.json["release"][k] for k in ("kind", "label", "bundleId", "rollout")}
    assert done["serves"] == preview.json["serves"]


def shares(client, app, devices) -> dict[str, str | None]:
    return {d: offered(client, app, deviceId=d) for d in devices}


def test_rolling_back_a_canary_restores_the_canary_before_it_and_never_widens_it(admin, client, demo_app):
    """1.0.0 at 100%, 1.1.0 at 10%, 1.2.0 at 10%: the rollback serves 1.1.0 to the same 10% as before
    1.2.0, the rest stay on 1.0.0; the preview says so first and the reply says so after."""
    devices = [f"phone-{i}" for i in range(300)]
    admin.publish(APP, "1.0.0")
    _, canary = admin.publish(APP, "1.1.0", rollout=10)
    before = shares(client, demo_app, devices)
    assert 10 < sum(v == "1.1.0" for v in before.values()) < 55
    _, newer = admin.publish(APP, "1.2.0", rollout=10)
    assert "1.2.0" in shares(client, demo_app, devices).values()
    rollback = f"/api/v1/apps/{APP}/channels/production/rollback"
    preview = admin.post(rollback, {"dryRun": True}).json
    assert preview["release"]["rollout"] == 10
    expected = [{"channel": "production", "platform": None, "release": newer["id"] + 1, "label": "v4",
                 "version": "1.1.0", "share": 10},
                {"channel": "production", "platform": None, "release": canary["id"] - 1, "label": "v1",
                 "version": "1.0.0", "share": 90}]
    assert preview["serves"] == expected
    done = admin.post(rollback).json
    assert (done["release"]["bundleVersion"], done["release"]["rollout"]) == ("1.1.0", 10)
    assert done["serves"] == expected
    assert shares(client, demo_app, devices) == before
    raised = admin.patch(f"/api/v1/apps/{APP}/releases/{newer['id']}", {"rollout": 50})
    assert raised.status_code == 409 and raised.json["error"]["code"] == "rolled_back"
    assert "release v3 was rolled back" in raised.json["error"]["message"]
    assert admin.patch(f"/api/v1/apps/{APP}/releases/{newer['id']}", {"rollout": 5}).status_code == 200
    widened = admin.patch(f"/api/v1/apps/{APP}/releases/{done['release']['id']}", {"rollout": 100})
    assert widened.status_code == 200
    assert set(shares(client, demo_app, devices).values()) == {"1.1.0"}


def test_rollback_to_builtin_tells_devices_to_drop_their_bundle(admin, client, demo_app):
    admin.publish(APP, "1.0.0")
    back = admin.post(f"/api/v1/apps/{APP}/channels/production/rollback", {"toBuiltin": True})
    assert back.json["release"]["kind"] == "builtin" and back.json["release"]["bundleVersion"] == "builtin"
    assert unsigned(check(client, demo_app, version="1.0.0").json) == {"updateAvailable": False, "revertToBuiltin": True,
                                                                       "reason": "revert_to_builtin"}
    admin.publish(APP, "1.0.1")
    assert offered(client, demo_app, version="builtin") == "1.0.1"


def test_promote_releases_the_source_channels_bundle(admin, client, demo_app):
    bundle, _ = admin.publish(APP, "2.0.0", channel="staging")
    promoted = admin.post(f"/api/v1/apps/{APP}/channels/staging/promote", {"to": "production", "rollout": 25,
                                                                          "mandatory": True})
    assert promoted.status_code == 201
    release = promoted.json["release"]
    assert (release["channel"], release["bundleId"], release["kind"], release["rollout"], release["mandatory"]) == (
        "production", bundle["id"], "promote", 25, True)
    empty = admin.post(f"/api/v1/apps/{APP}/channels/production/promote", {"to": "staging"})
    assert empty.status_code == 201
    nothing = admin.post(f"/api/v1/apps/{APP}/channels/nope/promote", {"to": "production"})
    assert nothing.status_code == 404


@pytest.mark.parametrize("targets,native,expected", [
    ("^1.2.0", "1.2.0", True), ("^1.2.0", "1.9.9", True), ("^1.2.0", "2.0.0", False), ("^1.2.0", "1.1.9", False),
    (">=1.0.0 <2.0.0", "1.5.0", True), (">=1.0.0 <2.0.0", "2.0.0", False), ("1.2.x", "1.2.7", True),
    ("1.2.x", "1.3.0", False), ("*", "0.0.1", True), ("~1.2", "1.2.9", True), ("~1.2", "1.3.0", False),
    ("1.0.0 - 1.5.0", "1.5.0", True), ("^1.2.0", "1.2", True), ("^1.2.0", None, False),
])
def test_target_versions_match_the_native_version(admin, client, demo_app, targets, native, expected):
    admin.publish(APP, "5.0.0", bundle_fields={"targetVersions": targets})
    params = {"nativeVersion": native} if native else {}
    assert (offered(client, demo_app, **params) == "5.0.0") is expected


def test_devices_fall_back_to_a_release_their_native_version_fits(admin, client, demo_app):
    admin.patch(f"/api/v1/apps/{APP}/channels/production", {"disableAutoUpdateUnderNative": False})
    admin.publish(APP, "1.0.0", bundle_fields={"targetVersions": "^1.0.0"})
    admin.publish(APP, "2.0.0", bundle_fields={"targetVersions": "^2.0.0"})
    assert offered(client, demo_app, nativeVersion="1.4.0") == "1.0.0"
    assert offered(client, demo_app, nativeVersion="2.1.0") == "2.0.0"
    assert offered(client, demo_app, nativeVersion="3.0.0") is None


@pytest.mark.parametrize("block,current,target,blocked", [
    ("major", "1.4.0", "2.0.0", "major"), ("major", "1.4.0", "1.5.0", None), ("minor", "1.4.0", "1.5.0", "minor"),
    ("minor", "1.4.0", "1.4.1", None), ("patch", "1.4.0", "1.4.1", "patch"), ("none", "1.4.0", "9.0.0", None),
])
def test_block_upgrades_stops_devices_at_the_boundary(admin, client, demo_app, block, current, target, blocked):
    admin.patch(f"/api/v1/apps/{APP}/channels/production", {"blockUpgrades": block})
    admin.publish(APP, target)
    reply = check(client, demo_app, version=current).json
    if blocked:
        assert unsigned(reply) == {"updateAvailable": False, "reason": "blocked", "blocked": blocked}
    else:
        assert reply["updateAvailable"] is True


def test_block_upgrades_compares_the_native_version_for_builtin(admin, client, demo_app):
    admin.patch(f"/api/v1/apps/{APP}/channels/production", {"blockUpgrades": "major"})
    admin.publish(APP, "2.0.0")
    assert check(client, demo_app, version="builtin", nativeVersion="1.0.0").json["blocked"] == "major"
    assert offered(client, demo_app, version="builtin", nativeVersion="2.0.0") == "2.0.0"


def test_overrides_pin_devices_to_a_channel_or_a_bundle(admin, client, demo_app):
    pinned, _ = admin.publish(APP, "1.0.0")
    admin.publish(APP, "1.1.0")
    admin.publish(APP, "3.0.0-beta.1", channel="staging")
    to_channel = admin.put(f"/api/v1/apps/{APP}/devices/qa-phone", {"channel": "staging"})
    assert to_channel.status_code == 200 and to_channel.json["override"]["channel"] == "staging"
    assert offered(client, demo_app, deviceId="qa-phone") == "3.0.0-beta.1"
    admin.put(f"/api/v1/apps/{APP}/devices/customer", {"bundleId": pinned["id"]})
    assert offered(client, demo_app, deviceId="customer", version="1.1.0") == "1.0.0"
    assert unsigned(check(client, demo_app, deviceId="customer", version="1.0.0").json) == {
        "updateAvailable": False, "reason": "up_to_date"}
    cleared = admin.delete(f"/api/v1/apps/{APP}/devices/qa-phone/override")
    assert cleared.json["override"] == {"channel": None, "bundleId": None}
    assert offered(client, demo_app, deviceId="qa-phone") == "1.1.0"
    assert admin.put(f"/api/v1/apps/{APP}/devices/x", {}).status_code == 400
    assert admin.put(f"/api/v1/apps/{APP}/devices/x", {"channel": "nope"}).status_code == 404


def test_checks_record_devices_in_batches(admin, client, demo_app, box):
    admin.publish(APP, "1.0.0")
    for i in range(300):
        check(client, demo_app, deviceId=f"dev-{i % 100}", version="builtin", nativeVersion="1.0.0",
              nativeBuild="7")
    with box.db.connection_context():
        assert Device.select().count() == 0  # nothing written on the check path
    box.tracker.flush()
    assert box.tracker.flushes == 1
    devices = admin.get(f"/api/v1/apps/{APP}/devices?limit=500").json
    assert devices["total"] == 100
    one = admin.get(f"/api/v1/apps/{APP}/devices/dev-7").json
    assert (one["platform"], one["nativeVersion"], one["nativeBuild"], one["bundleVersion"], one["channel"]) == (
        "ios", "1.0.0", "7", "builtin", "production")
    release = admin.get(f"/api/v1/apps/{APP}/releases").json["releases"][0]
    assert release["stats"]["checks"] == 300
    assert admin.get(f"/api/v1/apps/{APP}/devices?version=builtin&limit=1").json["total"] == 100
    assert admin.get(f"/api/v1/apps/{APP}/devices/nope").status_code == 404


def test_events_feed_release_stats_and_adoption(admin, client, demo_app, box):
    bundle, release = admin.publish(APP, "1.0.0")
    headers = {"X-Client-Key": demo_app["clientKey"]}
    single = client.post(f"/api/v1/apps/{APP}/events", json={"deviceId": "a", "bundleId": bundle["id"],
                                                              "type": "downloaded"}, headers=headers)
    assert single.json == {"status": "ok", "stored": 1}
    batch = [{"deviceId": "a", "bundleId": bundle["id"], "type": "installed"},
             {"deviceId": "b", "bundleId": bundle["id"], "type": "failed", "message": "unzip"},
             {"deviceId": "c", "bundleId": bundle["id"], "type": "rolled_back"}]
    assert client.post(f"/api/v1/apps/{APP}/events", json=batch, headers=headers).json["stored"] == 3
    stats = admin.get(f"/api/v1/apps/{APP}/releases/{release['id']}").json["stats"]
    assert {k: stats[k] for k in ("downloads", "installs", "failures")} == {"downloads": 1, "installs": 1,
                                                                           "failures": 1}
    assert stats["actions"] == {"rolled_back": 1}
    bad = client.post(f"/api/v1/apps/{APP}/events", json={"deviceId": "a", "type": "exploded"}, headers=headers)
    assert bad.status_code == 400 and bad.json["error"]["details"] == {"field": "type"}
    assert client.post(f"/api/v1/apps/{APP}/events", json={"deviceId": "a", "type": "installed"}).status_code == 401
    stray = client.post(f"/api/v1/apps/{APP}/events", json={"deviceId": "a", "bundleId": 999, "type": "installed"},
                        headers=headers)
    assert stray.json["stored"] == 1
    check(client, demo_app, deviceId="a", version="1.0.0")
    check(client, demo_app, deviceId="b", version="builtin")
    box.tracker.flush()
    adoption = admin.get(f"/api/v1/apps/{APP}/channels/production/stats").json
    assert sorted((a["version"], a["devices"]) for a in adoption["adoption"]) == [("1.0.0", 1), ("builtin", 1)]
    assert {(d["version"], d["devices"]) for d in adoption["activeByDay"]} == {("1.0.0", 1), ("builtin", 1)}


def test_release_control_actions_are_audited(admin, client, demo_app):
    _, release = admin.publish(APP, "1.0.0")
    admin.patch(f"/api/v1/apps/{APP}/releases/{release['id']}", {"rollout": 40})
    admin.publish(APP, "1.1.0")
    admin.post(f"/api/v1/apps/{APP}/channels/production/rollback")
    admin.put(f"/api/v1/apps/{APP}/devices/qa", {"channel": "staging"})
    admin.delete(f"/api/v1/apps/{APP}/devices/qa/override")
    actions = [e["action"] for e in admin.get("/api/v1/audit-log").json["entries"]]
    for action in ("release.created", "release.rollout_changed", "release.rolled_back", "device.override_set",
                   "device.override_cleared", "bundle.created", "app.created"):
        assert action in actions
    rollout = admin.get("/api/v1/audit-log?action=release.rollout_changed").json["entries"]
    assert rollout[0]["details"] == {"before": {"rollout": 100}, "after": {"rollout": 40}}
    older = admin.get(f"/api/v1/audit-log?before={rollout[0]['id']}&limit=1").json["entries"]
    assert older[0]["id"] < rollout[0]["id"]


def test_audit_log_is_admin_only(client, box, demo_app):
    from conftest import Api, make_key
    publisher = Api(client, make_key(box, "publisher"))
    assert publisher.get("/api/v1/audit-log").status_code == 403


def test_clients_only_get_bundles_they_can_install(admin, client, demo_app):
    """An encrypted bundle (capacitor-updater only) is skipped for native clients, who keep the
    previous release instead of getting bytes they cannot open."""
    admin.publish(APP, "1.0.0")
    encrypted = admin.upload(APP, "1.1.0", b"ciphertext-not-a-zip", sessionKey="aXY=:a2V5",
                             encryptedChecksum="ab" * 256, keyId="MIIBCgKCAQEA12345678").json
    admin.release(APP, encrypted["id"])
    assert offered(client, demo_app, deviceId="n1") == "1.0.0"


def test_a_flush_survives_a_release_deleted_since_the_check(admin, client, demo_app, box):
    admin.post(f"/api/v1/apps/{APP}/channels", {"name": "doomed"})
    admin.publish(APP, "1.0.0", channel="doomed")
    check(client, demo_app, deviceId="a", channel="doomed")
    admin.delete(f"/api/v1/apps/{APP}/channels/doomed")
    check(client, demo_app, deviceId="b")
    box.tracker.flush()
    assert admin.get(f"/api/v1/apps/{APP}/devices").json["total"] == 2
    box.tracker.flush()
    assert box.tracker.flushes == 1


def test_null_fields_mean_their_defaults(admin, demo_app):
    bundle = admin.upload(demo_app["slug"], "3.0.0").json
    created = admin.release(demo_app["slug"], bundle["id"], rollout=None, mandatory=None)
    assert created.status_code == 201, created.json
    assert (created.json["release"]["rollout"], created.json["release"]["mandatory"]) == (100, False)
