"""The one decision, called directly: every outcome and every reason of `decide()`, with the query
shape each protocol's adapter builds (native, Capgo, CodePush, Expo). No database, no HTTP: a case
costs microseconds, so the table can say everything the protocols' HTTP tests would each pay for."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from otabox.core import decide as decide_module
from otabox.core.decide import REASONS, DeviceQuery, decide, rollout_bucket
from otabox.core.serving import AppView, BundleView, ChannelView, Override, ReleaseView, _parsed_range

NOW = dt.datetime(2026, 1, 1)


def bundle(id: int, version: str, platform: str = "all", format: str = "zip", targets: str | None = None,
           min_build: int | None = None, package_hash: str | None = None, encrypted: bool = False,
           platforms: tuple[str, ...] = ()) -> BundleView:
    return BundleView(id=id, version=version, platform=platform, format=format, sha256="0" * 64, size=1,
                      signature="", min_native_build=min_build, target_versions=targets, notes="",
                      package_hash=package_hash or f"hash-{version}", session_key="key" if encrypted else None,
                      encrypted_checksum=None, key_id=None, runtime_version=None,
                      extra={"platforms": list(platforms)}, created_at=NOW, target_range=_parsed_range(targets))


def release(id: int, of: BundleView | None, rollout: int = 100, mandatory: bool = False, disabled: bool = False,
            platform: str | None = None) -> ReleaseView:
    targets = of.target_versions if of else None
    return ReleaseView(id=id, kind="release" if of else "builtin", label=f"v{id}", bundle=of, rollout=rollout,
                       mandatory=mandatory, disabled=disabled, notes="", created_at=NOW, target_versions=targets,
                       platform=platform, target_range=_parsed_range(targets))


def channel(*history: ReleaseView, name: str = "production", block: str = "none", under_native: bool = False,
            split_to: ChannelView | None = None, split_percentage: int = 0) -> ChannelView:
    """`history` newest first, as the serving state keeps it."""
    view = ChannelView(id=1, name=name, deployment_key="dk", block_upgrades=block, allow_device_self_assign=False,
                       allow_emulator=True, allow_dev=True, ios_enabled=True, android_enabled=True,
                       history=tuple(history), disable_under_native=under_native, split_percentage=split_percentage)
    if split_to is not None:
        view = dataclasses.replace(view, split=dataclasses.replace(view, history=split_to.history))
    return view


def app(*channels: ChannelView, overrides: dict | None = None) -> AppView:
    return AppView(id=1, slug="com.example.demo", name="Demo", client_key="ck",
                   channels={c.name: c for c in channels}, bundles={}, overrides=overrides or {})


V1, V2 = bundle(1, "1.0.1"), bundle(2, "1.0.2")
"""One build line: 1.0.1 then 1.0.2, for any platform."""


def device_outside(release_id: int, percent: int) -> str:
    """A device id whose rollout bucket for this release is outside `percent` %."""
    return next(f"device-{n}" for n in range(10_000) if rollout_bucket(f"device-{n}", release_id) >= percent * 100)


def device_inside(release_id: int, percent: int) -> str:
    return next(f"device-{n}" for n in range(10_000) if rollout_bucket(f"device-{n}", release_id) < percent * 100)


# The query each protocol's adapter builds for "an iOS device on the store build 1.0.0 running <current>".
NATIVE = DeviceQuery(device_id="d1", platform="ios", native_version="1.0.0", native_build=1,
                     versions_follow_native=False)
CAPGO = DeviceQuery(device_id="d1", platform="ios", native_version="1.0.0", current_version="builtin")
CODEPUSH = DeviceQuery(device_id="d1", native_version="1.0.0", versions_follow_native=False)
EXPO = DeviceQuery(device_id="d1", platform="ios", formats=frozenset({"expo"}))

CASES = [
    # (name, app, query, outcome, reason, extra expectations)
    ("update on the native protocol", app(channel(release(2, V2), release(1, V1))),
     dataclasses.replace(NATIVE, current_version="1.0.1"), "update", None, {"bundle": 2}),
    ("update for a Capgo device on its built-in bundle", app(channel(release(1, V1))), CAPGO, "update", None,
     {"bundle": 1}),
    ("CodePush names its bundle by hash", app(channel(release(2, V2), release(1, V1))),
     dataclasses.replace(CODEPUSH, current_package_hash="hash-1.0.2"), "up_to_date", "up_to_date", {}),
    ("Expo takes only Expo exports", app(channel(release(1, V1))), EXPO, "none", "no_release", {}),
    ("an Expo export for the device's platform",
     app(channel(release(1, bundle(1, "1", format="expo", platforms=("ios",))))), EXPO, "update", None,
     {"bundle": 1}),
    ("an Expo export for the other platform only",
     app(channel(release(1, bundle(1, "1", format="expo", platforms=("android",))))), EXPO, "none",
     "other_platform", {}),
    ("up to date", app(channel(release(1, V1))), dataclasses.replace(NATIVE, current_version="1.0.1"),
     "up_to_date", "up_to_date", {}),
    ("no release on the channel", app(channel()), NATIVE, "none", "no_release", {}),
    ("no such channel", app(channel()), dataclasses.replace(NATIVE, channel="beta"), "no_channel", "no_channel", {}),
    ("outside a partial rollout, nothing before it", app(channel(release(7, V1, rollout=10))),
     dataclasses.replace(NATIVE, device_id=device_outside(7, 10)), "none", "not_in_rollout", {}),
    ("inside a partial rollout", app(channel(release(7, V1, rollout=10))),
     dataclasses.replace(NATIVE, device_id=device_inside(7, 10)), "update", None, {"bundle": 1}),
    ("outside a partial rollout: what the channel served before it",
     app(channel(release(7, V2, rollout=10), release(1, V1))),
     dataclasses.replace(NATIVE, device_id=device_outside(7, 10)), "update", None, {"bundle": 1}),
    ("outside a partial rollout, already on the release before it",
     app(channel(release(7, V2, rollout=10), release(1, V1))),
     dataclasses.replace(NATIVE, device_id=device_outside(7, 10), current_version="1.0.1"), "up_to_date",
     "not_in_rollout", {}),
    ("a device already on a release keeps it when its rollout shrinks (only new devices follow the new share)",
     app(channel(release(7, V2, rollout=10), release(1, V1))),
     dataclasses.replace(NATIVE, device_id=device_outside(7, 10), current_version="1.0.2"), "up_to_date",
     "up_to_date", {}),
    ("a CodePush device on a release whose rollout shrank keeps it",
     app(channel(release(7, V2, rollout=10), release(1, V1))),
     dataclasses.replace(CODEPUSH, device_id=device_outside(7, 10), current_package_hash="hash-1.0.2"),
     "up_to_date", "up_to_date", {}),
    ("a channel name differing only in case reaches the channel", app(channel(release(1, V1), name="Production")),
     dataclasses.replace(NATIVE, channel="production"), "update", None, {"bundle": 1}),
    ("two channels differing only in case: neither", app(channel(name="Beta"), channel(name="beta")),
     dataclasses.replace(NATIVE, channel="BETA"), "no_channel", "no_channel", {}),
    ("a device without an id is outside every partial rollout", app(channel(release(7, V1, rollout=99))),
     dataclasses.replace(NATIVE, device_id=None), "none", "not_in_rollout", {}),
    ("native build too low", app(channel(release(1, bundle(1, "1.0.1", min_build=5)))), NATIVE, "none",
     "native_build_too_low", {}),
    ("native version not targeted", app(channel(release(1, bundle(1, "1.0.1", targets="^2.0.0")))), NATIVE, "none",
     "native_version_not_targeted", {}),
    ("a CodePush companion takes any native version",
     app(channel(release(1, bundle(1, "1.0.1", targets="^2.0.0")))),
     dataclasses.replace(CODEPUSH, any_native_version=True), "update", None, {"bundle": 1}),
    ("a bundle for the other platform", app(channel(release(1, bundle(1, "1.0.1", platform="android")))), NATIVE,
     "none", "other_platform", {}),
    ("a release for the other platform", app(channel(release(1, V1, platform="android"))), NATIVE, "none",
     "other_platform", {}),
    ("the device's platform explains more than another platform's release",
     app(channel(release(2, V2, platform="android"), release(1, bundle(1, "1.0.1", min_build=5)))), NATIVE,
     "none", "native_build_too_low", {}),
    ("a disabled release is skipped", app(channel(release(2, V2, disabled=True), release(1, V1))), NATIVE,
     "update", None, {"bundle": 1}),
    ("an encrypted bundle only for clients that open it", app(channel(release(1, bundle(1, "1.0.1", encrypted=True)))),
     NATIVE, "none", "no_release", {}),
    ("an encrypted bundle for capacitor-updater", app(channel(release(1, bundle(1, "1.0.1", encrypted=True)))),
     dataclasses.replace(CAPGO, accepts_encrypted=True), "update", None, {"bundle": 1}),
    ("a bundle the device reported as failed", app(channel(release(2, V2), release(1, V1))),
     dataclasses.replace(NATIVE, skip_bundle_ids=frozenset({2})), "update", None, {"bundle": 1}),
    ("blocked: a major upgrade", app(channel(release(1, bundle(1, "2.0.0")), block="major")),
     dataclasses.replace(CAPGO, current_version="1.0.1"), "blocked", "blocked", {"blocked": "major"}),
    ("blocked: a patch upgrade", app(channel(release(1, bundle(1, "1.0.2")), block="patch")),
     dataclasses.replace(CAPGO, current_version="1.0.1"), "blocked", "blocked", {"blocked": "patch"}),
    ("a minor upgrade passes a major block", app(channel(release(1, bundle(1, "1.1.0")), block="major")),
     dataclasses.replace(CAPGO, current_version="1.0.1"), "update", None, {"bundle": 1}),
    ("below the native version (Capgo's guard)", app(channel(release(1, bundle(1, "0.9.0")), under_native=True)),
     CAPGO, "blocked", "below_native", {"blocked": "below_native"}),
    ("CodePush bundle versions are not on the native scale",
     app(channel(release(1, bundle(1, "0.9.0")), under_native=True)), CODEPUSH, "update", None, {"bundle": 1}),
    ("nor are the native protocol's", app(channel(release(1, bundle(1, "0.9.0")), under_native=True)), NATIVE,
     "update", None, {"bundle": 1}),
    ("revert to the built-in bundle", app(channel(release(2, None), release(1, V1))),
     dataclasses.replace(NATIVE, current_version="1.0.1"), "builtin", "revert_to_builtin", {}),
    ("mandatory when the served release is", app(channel(release(1, V1, mandatory=True))), NATIVE, "update", None,
     {"mandatory": True}),
    ("mandatory when one skipped on the way is", app(channel(release(2, V2), release(1, V1, mandatory=True))),
     NATIVE, "update", None, {"bundle": 2, "mandatory": True}),
    ("not mandatory when the mandatory one is already installed",
     app(channel(release(3, bundle(3, "1.0.3")), release(2, V2), release(1, V1, mandatory=True))),
     dataclasses.replace(NATIVE, current_version="1.0.2"), "update", None, {"bundle": 3, "mandatory": False}),
    ("an admin override pins a bundle", app(channel(release(2, V2)), overrides={"d1": Override(None, V1, None)}),
     NATIVE, "update", None, {"bundle": 1}),
    ("an admin override names a channel",
     app(channel(release(2, V2)), channel(release(1, V1), name="beta"), overrides={"d1": Override("beta", None, None)}),
     NATIVE, "update", None, {"bundle": 1}),
    ("a self-assigned channel when the device asks for none",
     app(channel(release(2, V2)), channel(release(1, V1), name="beta"), overrides={"d1": Override(None, None, "beta")}),
     NATIVE, "update", None, {"bundle": 1}),
    ("a split sends its share to the other channel's history",
     app(channel(release(2, V2), split_to=channel(release(1, V1)), split_percentage=100)), NATIVE, "update", None,
     {"bundle": 1}),
    ("a split of 0 % sends no one", app(channel(release(2, V2), split_to=channel(release(1, V1)), split_percentage=0)),
     NATIVE, "update", None, {"bundle": 2}),
]


@pytest.mark.parametrize("name, view, query, outcome, reason, expected", CASES, ids=[case[0] for case in CASES])
def test_decide(name, view, query, outcome, reason, expected):
    decision = decide(view, query)
    assert (decision.outcome, decision.reason) == (outcome, reason)
    if "bundle" in expected:
        assert decision.bundle.id == expected["bundle"]
    if "mandatory" in expected:
        assert decision.mandatory is expected["mandatory"]
    if "blocked" in expected:
        assert decision.blocked == expected["blocked"]


def test_the_table_gives_every_reason():
    """A reason added to REASONS without a case here fails."""
    given = {decide(view, query).reason for _, view, query, *_ in CASES}
    assert set(REASONS) <= given, set(REASONS) - given


@pytest.mark.parametrize("upgrade, boundary", [
    ("none", None), ("major", "major"), ("minor", "major"), ("patch", "major"), ("version_number", None)])
def test_blocked_boundary_from_1_to_2(upgrade, boundary):
    assert decide_module.blocked_boundary(upgrade, "1.4.0", "2.0.0") == boundary


def test_rollout_buckets_spread_evenly():
    """The share of devices a rollout takes is its percentage (10 000 ids, within one point)."""
    inside = sum(rollout_bucket(f"device-{n}", 42) < 2500 for n in range(10_000))
    assert 2400 <= inside <= 2600
