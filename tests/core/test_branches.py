"""Which branch a device gets, called directly on `decide()`: its channel's branch, the split's share
(deterministic per device), and a user override that wins over both. No database, no HTTP."""
from __future__ import annotations

import dataclasses

import pytest
from test_decide import V1, V2, app, bundle, channel, release

from otabox.core.decide import DeviceQuery, decide, rollout_bucket
from otabox.core.serving import BranchView

V3 = bundle(3, "1.0.3")
MAIN, CANARY, BETA = (release(1, V1),), (release(2, V2),), (release(3, V3),)
"""The histories (newest first) of the branches main, canary and beta-testers."""
BRANCHES = {"main": BranchView("main", MAIN), "canary": BranchView("canary", CANARY),
            "beta-testers": BranchView("beta-testers", BETA)}
USERS = {"user-123": "beta-testers", "user-gone": "deleted-branch"}


def pointed(split_percentage: int = 0) -> "app":
    """production serving branch main, `split_percentage` % of its devices sent to canary."""
    production = dataclasses.replace(channel(*MAIN, split_to=channel(*CANARY), split_percentage=split_percentage),
                                     branch="main")
    if not split_percentage:
        production = dataclasses.replace(production, split=None)
    return dataclasses.replace(app(production), branches=BRANCHES, user_branches=USERS)


def in_split(device: str, percent: int) -> bool:
    return rollout_bucket(device, "channel:1") < percent * 100


SPLIT_DEVICE = next(f"d{n}" for n in range(10_000) if in_split(f"d{n}", 10))
MAIN_DEVICE = next(f"d{n}" for n in range(10_000) if not in_split(f"d{n}", 10))

CASES = [
    # (what, split %, device, user, bundle served)
    ("a device gets its channel's branch", 0, "d1", None, V1),
    ("no split: every device the channel's branch", 0, SPLIT_DEVICE, None, V1),
    ("a device inside the split gets the rollout branch", 10, SPLIT_DEVICE, None, V2),
    ("a device outside the split gets the channel's branch", 10, MAIN_DEVICE, None, V1),
    ("a device without an id is never in a split", 10, None, None, V1),
    ("a pinned user gets the override's branch", 0, "d1", "user-123", V3),
    ("the override wins over the split", 10, SPLIT_DEVICE, "user-123", V3),
    ("the override wins outside the split", 10, MAIN_DEVICE, "user-123", V3),
    ("another user is not pinned", 10, SPLIT_DEVICE, "user-456", V2),
    ("an override to a branch that is gone is ignored", 0, "d1", "user-gone", V1),
]


@pytest.mark.parametrize("what, split, device, user, served", CASES, ids=[c[0] for c in CASES])
def test_the_branch_a_device_gets(what, split, device, user, served):
    decision = decide(pointed(split), DeviceQuery(device_id=device, channel="production", user_id=user))
    assert decision.update and decision.bundle == served


def test_the_split_share_is_stable_per_device_and_near_its_percentage():
    view = pointed(30)
    devices = [f"phone-{n}" for n in range(2000)]
    served = {d: decide(view, DeviceQuery(device_id=d, channel="production")).bundle for d in devices}
    assert 500 <= sum(b == V2 for b in served.values()) <= 700
    assert all(decide(view, DeviceQuery(device_id=d, channel="production")).bundle == served[d] for d in devices[:50])


def test_a_pinned_users_channel_is_the_branch_without_its_split():
    decision = decide(pointed(10), DeviceQuery(device_id=SPLIT_DEVICE, channel="production", user_id="user-123"))
    assert (decision.channel.name, decision.channel.branch, decision.channel.split) == ("production", "beta-testers",
                                                                                     None)
