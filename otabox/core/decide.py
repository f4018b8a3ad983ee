"""The one domain decision: which bundle a device gets, and when none, why not. Every client
protocol asks this module.

Pure functions over the serving state (`serving.AppView`); no database, no Flask."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Callable

from . import semver
from .serving import AppView, BundleView, ChannelView, ReleaseView

BUILTIN = "builtin"
REASONS = ("up_to_date", "no_release", "not_in_rollout", "native_build_too_low", "native_version_not_targeted",
           "other_platform", "blocked", "below_native", "revert_to_builtin", "no_channel")
"""Why a device gets no update (`Decision.reason`), as the native check and the README name them."""
BOUNDARIES = ("major", "minor", "patch")
"""The version boundaries a channel's blockUpgrades may forbid crossing, widest first."""
MIN_UPDATE_VERSION = "min_update_version"
BLOCKED = (*BOUNDARIES, MIN_UPDATE_VERSION)
"""What a check refused by a channel policy names as `blocked`: the boundary the update would cross,
or the bundle's minUpdateVersion."""


def rollout_bucket(device_id: str, salt: int | str) -> int:
    """0..9999: the device's place in a release's rollout (salt: the release id), or in a channel's
    split (salt: "channel:<id>"), in hundredths of a percent."""
    digest = hashlib.sha256(f"{device_id}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def in_rollout(device_id: str | None, release: ReleaseView) -> bool:
    if release.rollout >= 100:
        return True
    if not device_id or release.rollout <= 0:
        return False
    return rollout_bucket(device_id, release.rollout_salt) < release.rollout * 100


def in_split(device_id: str | None, channel: ChannelView) -> bool:
    """Whether the device is among the `split_percentage` % sent to the channel's rollout branch."""
    return bool(device_id) and rollout_bucket(device_id, f"channel:{channel.id}") < channel.split_percentage * 100


def serving_shares(history) -> list[tuple[ReleaseView | None, float]]:
    """The share of devices (percent) each release of a history (newest first) serves, as
    `_serving_release` walks it: a partial rollout takes its share of the devices left, devices outside
    a rollback's rollout go on below its target, and rollouts of different releases pick devices
    independently (those sharing a release's membership pick the same ones). None: the devices no
    release takes, which run the binary's own bundle."""
    left, taken, below, shares = 100.0, {}, None, []
    for release in history:
        if left <= 1e-9:
            break
        if release.disabled or (below is not None and release.id >= below):
            continue
        already = taken.get(release.rollout_salt, 0)
        if release.rollout > already:
            share = left * (release.rollout - already) / (100 - already)
            shares.append((release, share))
            left -= share
            taken[release.rollout_salt] = release.rollout
        below = release.restores
    if left > 1e-9:
        shares.append((None, left))
    return shares


@dataclasses.dataclass(frozen=True)
class DeviceQuery:
    """What a device tells about itself, whatever protocol it speaks."""

    device_id: str | None = None
    platform: str | None = None
    current_version: str | None = None
    """The bundle version it runs now; None or 'builtin' for the binary's own bundle."""
    native_version: str | None = None
    native_build: int | None = None
    channel: str | None = None
    user_id: str | None = None
    """The user the device belongs to, when its client says (a user pinned to a branch gets that branch)."""
    skip_bundle_ids: frozenset[int] = frozenset()
    """Bundles the device reported as failed (never offered again to it)."""
    runtime_version: str | None = None
    """The Expo runtime version it runs (None: a client without runtime versions, which no release
    scoped to a runtime version is for)."""
    current_package_hash: str | None = None
    """CodePush devices name their current bundle by content hash rather than version."""
    any_native_version: bool = False
    """Companion apps (CodePush `isCompanion`) take any release whatever its targetVersions."""
    formats: frozenset[str] = frozenset({"zip"})
    """Bundle formats the client can install (Expo exports only for Expo clients)."""
    accepts_encrypted: bool = False
    """Only capacitor-updater can open end-to-end encrypted bundles."""
    versions_follow_native: bool = True
    """Bundle versions and the native version are on one scale (Capgo's assumption, which the
    under-native guard needs). Not for CodePush (its bundle versions are otabox's own) nor otabox's
    native clients, whose bundle and native versions are separate lines (`targetVersions` says which
    native versions a bundle is for): Capgo's guard applies to Capgo devices only."""

    @property
    def on_builtin(self) -> bool:
        return not self.current_package_hash and (not self.current_version or self.current_version == BUILTIN)

    def runs(self, bundle: BundleView) -> bool:
        """Whether the device already runs this bundle."""
        if self.current_package_hash:
            return bundle.package_hash == self.current_package_hash
        return not self.on_builtin and bundle.version == self.current_version


@dataclasses.dataclass(frozen=True)
class Decision:
    """`outcome` is one of: update, up_to_date, none, builtin, blocked, no_channel; `reason` (one of
    REASONS) says why a device gets no update; `blocked` names the channel policy that refused one:
    major, minor, patch (blockUpgrades), min_update_version (blockUpgrades "version_number") or
    below_native (disableAutoUpdateUnderNative)."""

    outcome: str
    channel: ChannelView | None = None
    release: ReleaseView | None = None
    bundle: BundleView | None = None
    mandatory: bool = False
    blocked: str | None = None
    reason: str | None = None
    attested: bool = True
    """False when the device is answered `release` only because it claims to run its bundle, outside
    that release's rollout: anyone can claim a version, so such a check does not attest the device."""

    @property
    def update(self) -> bool:
        return self.outcome == "update"

    @property
    def served_release_id(self) -> int | None:
        """The release this check served the device (what attests its health reports), if any."""
        return self.release.id if self.release and self.attested else None


def _why_not(release: ReleaseView, query: DeviceQuery) -> str | None:
    """None when a release is meant for this device, rollout aside; else why not: a reason from
    REASONS, or "" for releases no device like this one could take (disabled, a bundle format or
    encryption the client cannot open, a bundle the device reported as failed)."""
    if release.disabled:
        return ""
    if release.platform and query.platform and release.platform != query.platform:
        return "other_platform"
    if release.runtime_version and release.runtime_version != query.runtime_version:
        return "native_version_not_targeted"
    if release.is_builtin:
        return None
    bundle = release.bundle
    if bundle.format not in query.formats or (bundle.session_key and not query.accepts_encrypted) \
            or bundle.id in query.skip_bundle_ids:
        return ""
    if not bundle.serves_platform(query.platform):
        return "other_platform"
    return release.native_mismatch(query.native_version, query.native_build, any_version=query.any_native_version)


def _applies(release: ReleaseView, query: DeviceQuery) -> bool:
    return _why_not(release, query) is None


RolloutSelector = Callable[[str | None, ReleaseView], bool]


def _serving_release(channel: ChannelView, query: DeviceQuery, selector: RolloutSelector
                     ) -> tuple[int | None, str | None]:
    """The position in history of the newest release that applies and whose rollout includes the
    device (devices outside a partial rollout fall through to what the channel served before it;
    a device already running the release's bundle stays on it, so a rollout that shrinks takes it
    from no device that has it: only new devices follow the new share), and why the newest release passed over was not for the device: a release of the device's own
    platform explains more than one of another platform."""
    passed_over = None
    below = None  # outside a rollback's rollout: go on below its target
    for position, release in enumerate(channel.history):
        if below is not None and release.id >= below:
            continue
        reason = _why_not(release, query)
        if reason is None:
            if selector(query.device_id, release) or (release.bundle is not None and query.runs(release.bundle)):
                return position, passed_over
            reason = "not_in_rollout"
            below = release.restores
        if reason and (passed_over is None or (passed_over == "other_platform" and reason != passed_over)):
            passed_over = reason
    return None, passed_over


def _mandatory_on_the_way(channel: ChannelView, served: int, query: DeviceQuery) -> bool:
    """CodePush semantics: mandatory if the served release, or any applicable release between it and
    the one the device runs, is mandatory (all of history for a device that names no bundle).

    Looks only at the channel's mandatory releases and at the releases of the device's own bundle
    (indexes built with the serving state), so the cost does not grow with the history."""
    if query.current_package_hash:
        runs_at = channel.positions_by_hash.get(query.current_package_hash, ())
    elif not query.on_builtin:
        runs_at = channel.positions_by_version.get(query.current_version, ())
    else:
        runs_at = ()
    history = channel.history
    stop = next((p for p in runs_at if p >= served and _applies(history[p], query)), len(history))
    return any(served <= p < stop and _applies(history[p], query) for p in channel.mandatory_positions)


@functools.lru_cache(maxsize=4096)
def _app_version(text: str) -> semver.Version | None:
    try:
        return semver.coerce_app_version(text)
    except ValueError:
        return None


def blocked_boundary(block_upgrades: str, current: str | None, target: str) -> str | None:
    """The boundary ('major', 'minor', 'patch') that moving current → target would cross, when the
    channel forbids crossing it."""
    if block_upgrades not in BOUNDARIES or not current:
        return None
    current_version, target_version = _app_version(current), _app_version(target)
    if current_version is None or target_version is None:
        return None
    crossed = semver.upgrade_kind(current_version, target_version)
    if crossed and BOUNDARIES.index(crossed) <= BOUNDARIES.index(block_upgrades):
        return crossed
    return None


def _policy_refusal(channel: ChannelView, bundle: BundleView, query: DeviceQuery) -> str | None:
    """The channel policy that keeps this device from moving to `bundle`, in Capgo's order: the
    upgrade boundary, the bundle's minUpdateVersion ("version_number" mode), the native version."""
    current = query.native_version if query.on_builtin else query.current_version
    boundary = blocked_boundary(channel.block_upgrades, current, bundle.version)
    if boundary:
        return boundary
    if channel.block_upgrades == "version_number" and bundle.min_update_version and current:
        running, minimum = _app_version(current), _app_version(bundle.min_update_version)
        if running is not None and minimum is not None and running < minimum:
            return MIN_UPDATE_VERSION
    if channel.disable_under_native and query.versions_follow_native and query.native_version:
        native, offered = _app_version(query.native_version), _app_version(bundle.version)
        if native is not None and offered is not None and offered < native:
            return "below_native"
    return None


def decide(app: AppView, query: DeviceQuery, selector: RolloutSelector = in_rollout) -> Decision:
    """`selector` decides partial-rollout membership (CodePush keeps its own hash for migrations)."""
    channel = app.channel_for(query.device_id, query.channel)
    if channel is None:
        return Decision("no_channel", reason="no_channel")
    pinned = app.for_user(channel, query.user_id)
    if pinned is not channel:
        channel = pinned
    elif channel.split is not None and in_split(query.device_id, channel):
        channel = channel.split
    override = app.overrides.get(query.device_id) if query.device_id else None
    if override and override.bundle:
        return _offer(channel, None, override.bundle, query, mandatory=False)
    position, passed_over = _serving_release(channel, query, selector)
    if position is None:
        return Decision("none", channel, reason=passed_over or "no_release")
    served = channel.history[position]
    if served.is_builtin:
        return Decision("builtin", channel, served, reason="revert_to_builtin")
    bundle = served.bundle
    if query.runs(bundle):
        newer = passed_over if passed_over != "other_platform" else None
        return Decision("up_to_date", channel, served, bundle, reason=newer or "up_to_date",
                        attested=selector(query.device_id, served))
    refusal = _policy_refusal(channel, bundle, query)
    if refusal:
        return Decision("blocked", channel, served, bundle, blocked=refusal,
                        reason="below_native" if refusal == "below_native" else "blocked")
    return Decision("update", channel, served, bundle, mandatory=_mandatory_on_the_way(channel, position, query))


def _offer(channel, release, bundle, query, mandatory) -> Decision:
    if query.runs(bundle):
        return Decision("up_to_date", channel, release, bundle, reason="up_to_date")
    return Decision("update", channel, release, bundle, mandatory=mandatory)
