"""Issue 15 through the management API: the default channel, channel upsert and paging, split
rollouts, bundle build metadata and deletion by version or as unused, release deletion, history,
republishing and groups, audit and stats filters, and the devices' reported fields."""
from __future__ import annotations

import pytest
from conftest import check, make_zip

from otabox.core.decide import in_split
from otabox.core.serving import ChannelView

APP = "com.example.demo"
API = f"/api/v1/apps/{APP}"


def upload(admin, version, **fields) -> dict:
    response = admin.upload(APP, version, make_zip({"index.html": version}), **fields)
    assert response.status_code == 201, response.json
    return response.json


# --- the default channel (Capgo's public channel) -------------------------------------------------

def test_the_default_channel_is_an_app_setting_that_public_sets(admin, client, demo_app):
    assert demo_app["defaultChannel"] == "production"
    admin.publish(APP, "1.0.0", "staging")
    assert check(client, demo_app).json["reason"] == "no_release"
    made_public = admin.patch(f"{API}/channels/staging", {"public": True})
    assert made_public.status_code == 200 and made_public.json["public"] is True
    assert admin.get(API).json["defaultChannel"] == "staging"
    assert [c["public"] for c in admin.get(f"{API}/channels").json["channels"]] == [False, True]
    assert check(client, demo_app).json["bundle"]["version"] == "1.0.0"
    assert admin.patch(f"{API}/channels/staging", {"public": "yes"}).status_code == 400
    assert admin.patch(f"{API}/channels/staging", {"public": False}).json["public"] is False
    assert admin.get(API).json["defaultChannel"] is None
    assert check(client, demo_app).json["reason"] == "no_channel"
    assert admin.patch(API, {"defaultChannel": "production"}).json["defaultChannel"] == "production"
    assert admin.patch(API, {"defaultChannel": "nope"}).status_code == 404
    assert admin.patch(API, {}).status_code == 400
    entries = admin.get("/api/v1/audit-log?action=app.default_channel_set").json["entries"]
    assert entries[0]["details"] == {"from": None, "to": "production"}


def test_a_release_without_a_channel_goes_to_the_default_channel(admin, demo_app):
    admin.patch(API, {"defaultChannel": "staging"})
    released = admin.post(f"{API}/releases", {"bundleId": upload(admin, "1.0.0")["id"]})
    assert released.status_code == 201
    assert released.json["release"]["channel"] is None, "OtaKit's base channel reads back as null (issue 24)"
    assert admin.get(f"{API}/channels/staging").json["currentRelease"]["id"] == released.json["release"]["id"]
    admin.patch(API, {"defaultChannel": None})
    refused = admin.post(f"{API}/releases", {"bundleId": upload(admin, "1.0.1")["id"]})
    assert refused.status_code == 400 and refused.json["error"]["details"] == {"field": "channel"}


def test_renaming_or_deleting_the_default_channel_follows_it(admin, demo_app):
    admin.post(f"{API}/channels", {"name": "beta", "public": True})
    assert admin.get(API).json["defaultChannel"] == "beta"
    renamed = admin.patch(f"/apps/{APP}/deployments/beta", {"name": "gamma"})
    assert renamed.status_code == 200 and admin.get(API).json["defaultChannel"] == "gamma"
    admin.delete(f"{API}/channels/gamma")
    assert admin.get(API).json["defaultChannel"] is None


# --- channels: upsert, paging, split rollout, minimum runtime -----------------------------------

def test_channel_post_upserts_and_the_list_pages(admin, demo_app):
    for name in ("a", "b", "c"):
        assert admin.post(f"{API}/channels", {"name": name}).status_code == 201
    updated = admin.post(f"{API}/channels", {"name": "b", "blockUpgrades": "minor", "minRuntimeVersion": "2.0.0"})
    assert updated.status_code == 200 and updated.json["blockUpgrades"] == "minor"
    assert updated.json["minRuntimeVersion"] == "2.0.0"
    page = admin.get(f"{API}/channels?limit=2&offset=1").json
    assert page["total"] == 5 and [c["name"] for c in page["channels"]] == ["staging", "a"]
    assert admin.get(f"{API}/channels?limit=0").status_code == 400
    assert admin.post(f"{API}/channels", {"name": "b", "blockUpgrades": "always"}).status_code == 400


def test_split_rollout_sends_a_stable_share_to_another_channels_release(admin, client, demo_app):
    admin.publish(APP, "1.0.0")
    admin.publish(APP, "2.0.0", "staging")
    assert admin.patch(f"{API}/channels/production", {"rolloutChannel": "production"}).status_code == 400
    assert admin.patch(f"{API}/channels/production", {"rolloutChannel": "nope"}).status_code == 400
    assert admin.patch(f"{API}/channels/production", {"rolloutPercentage": 101}).status_code == 400
    split = admin.patch(f"{API}/channels/production", {"rolloutChannel": "staging", "rolloutPercentage": 30}).json
    assert (split["rolloutChannel"], split["rolloutPercentage"]) == ("staging", 30)
    view = ChannelView(id=split["id"], name="production", deployment_key="", block_upgrades="none",
                       allow_device_self_assign=False, allow_emulator=True, allow_dev=True, ios_enabled=True,
                       android_enabled=True, history=(), split_percentage=30)
    devices = [f"device-{n}" for n in range(60)]
    got = {d: check(client, demo_app, deviceId=d).json["bundle"]["version"] for d in devices}
    assert got == {d: "2.0.0" if in_split(d, view) else "1.0.0" for d in devices}
    assert 5 < sum(v == "2.0.0" for v in got.values()) < 35
    assert check(client, demo_app, deviceId=devices[0]).json["bundle"]["version"] == got[devices[0]]
    assert check(client, demo_app).json["bundle"]["version"] == "1.0.0"  # no device id: never in the split
    admin.delete(f"{API}/channels/staging")
    cleared = admin.get(f"{API}/channels/production").json
    assert (cleared["rolloutChannel"], cleared["rolloutPercentage"]) == (None, 0)


# --- bundles: build metadata, minUpdateVersion, deletion by version and as unused ----------------

def test_build_metadata_and_min_update_version_are_stored_and_listed(admin, demo_app):
    bundle = upload(admin, "1.0.0", message="Fix checkout", gitCommitHash="a1b2c3d", gitBranch="main",
                    minUpdateVersion="0.9.0")
    assert {k: bundle[k] for k in ("message", "gitCommitHash", "gitBranch", "minUpdateVersion", "expoConfig")} == {
        "message": "Fix checkout", "gitCommitHash": "a1b2c3d", "gitBranch": "main", "minUpdateVersion": "0.9.0",
        "expoConfig": None}
    listed = admin.get(f"{API}/bundles").json["bundles"][0]
    assert listed["gitCommitHash"] == "a1b2c3d" and listed["message"] == "Fix checkout"
    assert admin.upload(APP, "1.0.1", minUpdateVersion="soon").status_code == 400
    assert admin.upload(APP, "1.0.1", expoConfig='{"name": "x"}').status_code == 400  # zip bundles have none
    initiated = admin.post(f"{API}/bundles/initiate", {"version": "1.0.2", "size": 10, "sha256": "a" * 64,
                                                       "gitBranch": "release/1.0", "message": 7})
    assert initiated.status_code == 400 and initiated.json["error"]["details"] == {"field": "message"}


def test_delete_bundles_by_version_and_every_unused_one(admin, demo_app):
    ios = upload(admin, "1.0.0", platform="ios")
    android = upload(admin, "1.0.0", platform="android")
    in_history = upload(admin, "2.0.0")
    admin.release(APP, in_history["id"])
    release = admin.release(APP, upload(admin, "3.0.0")["id"]).json["release"]
    admin.delete(f"{API}/releases/{release['id']}")  # deleted releases are history too
    pinned = upload(admin, "4.0.0")
    admin.put(f"{API}/devices/qa-phone", {"bundleId": pinned["id"]})
    spare = upload(admin, "5.0.0")
    one = admin.delete(f"{API}/bundles/1.0.0?platform=android")
    assert one.json == {"deleted": True, "id": android["id"], "ids": [android["id"]]}
    assert admin.delete(f"{API}/bundles/2.0.0").status_code == 409
    assert admin.delete(f"{API}/bundles/9.9.9").status_code == 404
    assert admin.delete(f"{API}/bundles").status_code == 400
    unused = admin.delete(f"{API}/bundles?unused=true")
    assert unused.status_code == 200 and sorted(unused.json["ids"]) == sorted([ios["id"], spare["id"]])
    left = [b["version"] for b in admin.get(f"{API}/bundles").json["bundles"]]
    assert sorted(left) == ["2.0.0", "3.0.0", "4.0.0"]
    assert admin.delete(f"{API}/bundles?unused=true").json["ids"] == []


# --- releases: delete, history, republish, groups -------------------------------------------------

def test_a_deleted_release_is_disabled_hidden_and_still_counts_for_its_devices(admin, client, demo_app):
    first = admin.publish(APP, "1.0.0").release
    second = admin.publish(APP, "1.1.0").release
    deleted = admin.delete(f"{API}/releases/{second['id']}")
    assert deleted.status_code == 200 and deleted.json["deleted"] is True and deleted.json["disabled"] is True
    listed = admin.get(f"{API}/releases").json
    assert [r["id"] for r in listed["releases"]] == [first["id"]] and listed["total"] == 1
    everything = admin.get(f"{API}/releases?includeDeleted=true").json["releases"]
    assert [r["id"] for r in everything] == [second["id"], first["id"]]
    assert admin.get(f"{API}/releases?includeDeleted=maybe").status_code == 400
    assert check(client, demo_app, version="1.1.0").json["bundle"]["version"] == "1.0.0"
    events = client.post(f"/api/v1/apps/{APP}/events", json={"deviceId": "d", "type": "installed",
                                                             "bundleId": second["bundleId"]},
                         headers={"X-Client-Key": demo_app["clientKey"]})
    assert events.status_code == 200
    assert admin.get(f"{API}/releases/{second['id']}").json["stats"]["installs"] == 1
    assert admin.get(f"{API}/bundles/{second['bundleId']}").status_code == 200


def test_release_history_tells_what_happened_to_it(admin, demo_app):
    first = admin.publish(APP, "1.0.0", rollout=10).release
    admin.patch(f"{API}/releases/{first['id']}", {"rollout": 50})
    admin.patch(f"{API}/releases/{first['id']}", {"mandatory": True, "notes": "now urgent"})
    admin.post(f"{API}/channels/production/promote", {"to": "staging"})
    admin.publish(APP, "1.1.0")
    admin.post(f"{API}/channels/production/rollback", {})
    history = admin.get(f"{API}/releases/{first['id']}/history").json
    assert history["releaseId"] == first["id"]
    assert [e["type"] for e in history["events"]] == [
        "created", "rollout_changed", "mandatory_changed", "notes_changed", "promoted", "rolled_back_to"]
    assert history["events"][1]["details"] == {"from": 10, "to": 50}
    assert history["events"][0]["actor"] == "admin" and history["events"][0]["at"].endswith("Z")
    assert admin.get(f"{API}/releases/999/history").status_code == 404


def test_republish_to_several_channels_in_one_group(admin, demo_app):
    admin.post(f"{API}/channels", {"name": "beta"})
    source = admin.publish(APP, "1.0.0", "staging", mandatory=True, groupId="change-42").release
    assert source["groupId"] == "change-42"
    done = admin.post(f"{API}/releases/{source['id']}/republish",
                      {"channels": ["production", "beta"], "releaseMessage": "ship it"})
    assert done.status_code == 201
    group, copies = done.json["groupId"], done.json["releases"]
    assert [r["channel"] for r in copies] == ["production", "beta"]
    assert all(r["groupId"] == group and r["notes"] == "ship it" and r["mandatory"] and
               r["bundleId"] == source["bundleId"] and r["originalLabel"] == source["label"] for r in copies)
    grouped = admin.get(f"{API}/releases?groupId={group}").json["releases"]
    assert sorted(r["id"] for r in grouped) == sorted(r["id"] for r in copies)
    assert admin.post(f"{API}/releases/{source['id']}/republish", {"channels": []}).status_code == 400
    assert admin.post(f"{API}/releases/{source['id']}/republish", {"channels": ["nope"]}).status_code == 404
    auto = admin.release(APP, upload(admin, "2.0.0")["id"]).json
    assert auto["groupId"] == auto["release"]["groupId"] and len(auto["groupId"]) == 36


# --- audit, stats, devices -----------------------------------------------------------------------

def test_audit_log_filters_by_entity_id(admin, demo_app):
    release = admin.publish(APP, "1.0.0").release
    admin.patch(f"{API}/releases/{release['id']}", {"rollout": 40})
    for query in (f"entity_type=release&entity_id={release['id']}", f"entityType=release&entityId={release['id']}"):
        entries = admin.get(f"/api/v1/audit-log?{query}").json["entries"]
        assert [e["action"] for e in entries] == ["release.rollout_changed", "release.created"]


@pytest.mark.parametrize("action", ["bogus", "relase.created", "release"])
def test_audit_log_refuses_an_action_no_entry_can_have(admin, demo_app, action):
    refused = admin.get(f"/api/v1/audit-log?action={action}")
    assert refused.status_code == 400 and refused.json["error"]["details"]["field"] == "action"
    assert refused.json["error"]["message"].startswith(f"unknown action {action!r}: give <family>.<verb>")
    assert "release" in refused.json["error"]["details"]["accepted"]
    assert admin.get("/api/v1/audit-log?action=release.archived").json["entries"] == []


@pytest.mark.parametrize("days,status", [("7", 200), ("14", 200), ("30", 200), ("90", 200), ("", 200),
                                         ("10", 400), ("x", 400)])
def test_stats_take_days(admin, client, demo_app, days, status):
    response = admin.get(f"{API}/channels/production/stats?days={days}")
    assert response.status_code == status
    if status == 200:
        assert response.json["days"] == int(days or 30)


def test_adoption_counts_only_devices_seen_within_the_days(admin, client, box, demo_app):
    import datetime as dt

    from otabox.store.models import Device

    admin.publish(APP, "1.0.0")
    for device in ("recent", "old"):
        check(client, demo_app, deviceId=device, version="1.0.0")
    box.tracker.flush()
    with box.db.connection_context():
        Device.update(last_seen=dt.datetime(2000, 1, 1)).where(Device.device_id == "old").execute()
    assert admin.get(f"{API}/channels/production/stats?days=7").json["adoption"] == [
        {"version": "1.0.0", "devices": 1}]
