"""A device's check follows its channel to the branch the channel points at, and the channel's split
to a second branch, whatever protocol it speaks: 1.0.0 is released to production and 2.0.0 to staging
(each the branch of its channel's name); production pointed at the staging branch serves 2.0.0; a
split sends the same share of devices to the staging branch on every protocol. A user pinned to a
branch gets it on the checks that say who the user is (native `userId`, Expo's `expo-extra-params`)."""
from __future__ import annotations

import pytest
from conftest import check
from test_rollback_every_protocol import PROTOCOLS, expo

from otabox.core.decide import rollout_bucket

APP = "com.example.demo"
DEVICES = [f"phone-{i}" for i in range(100)]
CHANNELS = f"/api/v1/apps/{APP}/channels"


def publish_to(publish, admin, tmp_path, version, channel):
    """`publish` (a PROTOCOLS publisher, which releases to production) aimed at `channel`."""
    original = admin.release
    admin.release = lambda app, bundle_id, _channel="production", **extra: original(app, bundle_id, channel, **extra)
    try:
        publish(admin, tmp_path, version, 100)
    finally:
        admin.release = original


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_a_check_follows_the_channel_to_its_branch_and_split(admin, client, demo_app, tmp_path, protocol):
    publish, served = PROTOCOLS[protocol]
    production = admin.get(f"{CHANNELS}/production").json
    assert production["branch"] == "production"
    demo_app = {**demo_app, "channelKeys": production["deploymentKey"]}
    publish_to(publish, admin, tmp_path, "1.0.0", "production")
    publish_to(publish, admin, tmp_path, "2.0.0", "staging")
    first = served(client, demo_app, DEVICES[0])
    assert first is not None

    assert admin.patch(f"{CHANNELS}/production", {"branch": "staging"}).json["branch"] == "staging"
    second = served(client, demo_app, DEVICES[0])
    assert second not in (None, first)

    split = admin.patch(f"{CHANNELS}/production", {"branch": "production", "rolloutBranch": "staging",
                                                   "rolloutPercentage": 30}).json
    assert (split["branch"], split["rolloutBranch"], split["rolloutChannel"]) == ("production", "staging", "staging")
    expected = {d: second if rollout_bucket(d, f"channel:{production['id']}") < 3000 else first for d in DEVICES}
    assert {d: served(client, demo_app, d) for d in DEVICES} == expected
    assert 10 < list(expected.values()).count(second) < 50


@pytest.mark.parametrize("protocol", ["native", "expo"])
def test_a_user_pinned_to_a_branch_gets_it_on_any_channel(admin, client, demo_app, tmp_path, protocol):
    publish, _ = PROTOCOLS[protocol]
    publish_to(publish, admin, tmp_path, "1.0.0", "production")
    publish_to(publish, admin, tmp_path, "2.0.0", "staging")

    def served(user=None):
        if protocol == "native":
            reply = check(client, demo_app, deviceId="phone-1", **({"userId": user} if user else {})).json
            return reply["bundle"]["version"] if reply.get("updateAvailable") else None
        original = expo.__globals__["expo_headers"]
        extra = {"expo_extra_params": f'user-id="{user}"'} if user else {}
        expo.__globals__["expo_headers"] = lambda **kw: original(**kw, **extra)
        try:
            return expo(client, demo_app, "phone-1")
        finally:
            expo.__globals__["expo_headers"] = original

    before = served()
    assert served("u1") == before
    pinned = admin.post(f"/api/v1/apps/{APP}/user-overrides", {"userId": "u1", "branchName": "staging",
                                                               "note": "QA"})
    assert pinned.status_code == 201, pinned.json
    assert served("u1") not in (None, before)
    assert served("u2") == before == served()
    assert admin.delete(f"/api/v1/apps/{APP}/user-overrides/{pinned.json['id']}").status_code == 200
    assert served("u1") == before
