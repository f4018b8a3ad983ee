"""The one domain decision: which bundle a device gets. Every client protocol asks this module.

Pure functions over the serving state (`serving.AppView`); no database, no Flask."""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable

from . import semver
from .serving import AppView, BundleView, ChannelView, ReleaseView

BUILTIN = "builtin"


def rollout_bucket(device_id: str, release_id: int) -> int:
    """0..9999: the device's place in a release's rollout, in hundredths of a percent."""
    digest = hashlib.sha256(f"{device_id}:{release_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def in_rollout(device_id: str | None, release: ReleaseView) -> bool:
    if release.rollout >= 100:
        return True
    if not device_id or release.rollout <= 0:
        return False
    return rollout_bucket(device_id, release.id) < release.rollout * 100


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
    skip_bundle_ids: frozenset[int] = frozenset()
    """Bundles the device reported as failed (never offered again to it)."""
    current_package_hash: str | None = None
    """CodePush devices name their current bundle by content hash rather than version."""
    any_native_version: bool = False
    """Companion apps (CodePush `isCompanion`) take any release whatever its targetVersions."""
    formats: frozenset[str] = frozenset({"zip"})
    """Bundle formats the client can install (Expo exports only for Expo clients)."""
    accepts_encrypted: bool = False
    """Only capacitor-updater can open end-to-end encrypted bundles."""

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
    """`outcome` is one of: update, up_to_date, none, builtin, blocked, no_channel."""

    outcome: str
    channel: ChannelView | None = None
    release: ReleaseView | None = None
    bundle: BundleView | None = None
    mandatory: bool = False
    blocked: str | None = None

    @property
    def update(self) -> bool:
        return self.outcome == "update"


def _applies(release: ReleaseView, query: DeviceQuery) -> bool:
    """Whether a release is meant for this device, rollout aside."""
    if release.disabled:
        return False
    if release.is_builtin:
        return True
    bundle = release.bundle
    if bundle.format not in query.formats or (bundle.session_key and not query.accepts_encrypted):
        return False
    return (bundle.id not in query.skip_bundle_ids and bundle.serves_platform(query.platform)
            and bundle.fits_native(query.native_version, query.native_build,
                                   any_version=query.any_native_version))


RolloutSelector = Callable[[str | None, ReleaseView], bool]


def _serving_release(channel: ChannelView, query: DeviceQuery, selector: RolloutSelector) -> int | None:
    """The position in history of the newest release that applies and whose rollout includes the
    device; devices outside a partial rollout fall through to what the channel served before it."""
    for position, release in enumerate(channel.history):
        if _applies(release, query) and selector(query.device_id, release):
            return position
    return None


def _mandatory_on_the_way(channel: ChannelView, served: int, query: DeviceQuery) -> bool:
    """CodePush semantics: mandatory if the served release, or any applicable release between it and
    the one the device runs, is mandatory.

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


def blocked_boundary(block_upgrades: str, current: str | None, target: str) -> str | None:
    """The boundary ('major', 'minor', 'patch') that moving current → target would cross, when the
    channel forbids crossing it."""
    if block_upgrades == "none" or not current:
        return None
    try:
        crossed = semver.upgrade_kind(semver.coerce_app_version(current), semver.parse_version(target))
    except ValueError:
        return None
    order = ("major", "minor", "patch")
    if crossed and order.index(crossed) <= order.index(block_upgrades):
        return crossed
    return None


def decide(app: AppView, query: DeviceQuery, selector: RolloutSelector = in_rollout) -> Decision:
    """`selector` decides partial-rollout membership (CodePush keeps its own hash for migrations)."""
    channel = app.channel_for(query.device_id, query.channel)
    if channel is None:
        return Decision("no_channel")
    override = app.overrides.get(query.device_id) if query.device_id else None
    if override and override.bundle:
        return _offer(channel, None, override.bundle, query, mandatory=False)
    position = _serving_release(channel, query, selector)
    if position is None:
        return Decision("none", channel)
    served = channel.history[position]
    if served.is_builtin:
        return Decision("builtin", channel, served)
    current = query.native_version if query.on_builtin else query.current_version
    boundary = blocked_boundary(channel.block_upgrades, current, served.bundle.version)
    if boundary and not query.runs(served.bundle):
        return Decision("blocked", channel, served, served.bundle, blocked=boundary)
    return _offer(channel, served, served.bundle, query, _mandatory_on_the_way(channel, position, query))


def _offer(channel, release, bundle, query, mandatory) -> Decision:
    if query.runs(bundle):
        return Decision("up_to_date", channel, release, bundle)
    return Decision("update", channel, release, bundle, mandatory=mandatory)
