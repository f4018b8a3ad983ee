"""Expo Updates bundle diffing (expo-updates SDK 55+, `updates.enableBsdiffPatchSupport`).

Which patches an Expo app wants (`patch_jobs`, the planner the patch maker in ops/ runs): on every
channel and runtime version, from the launch assets of the last `bases` distinct updates released
before it, and from the launch bundles embedded in the store binaries of that runtime version
(core/embedded.py), to the launch asset of the update the channel serves (and of the one before it
while a partial rollout leaves devices on it), per platform.

Which patch a launch asset request gets (`choose_patch`): the client sends `A-IM: bsdiff`,
`Expo-Current-Update-ID` (the update it runs: the base), `Expo-Requested-Update-ID` (the update the
asset belongs to) and perhaps `Expo-Embedded-Update-ID`. A patch is served only when all of them
name updates of this app and runtime version that otabox served (the base may also be an embedded
update whose launch bundle was recorded for this runtime version and platform: a device that never
took an update sends its id as both current and embedded), the requested one's launch asset is the
file asked for, and a patch of that pair was made; anything else (an unknown, foreign or malformed
base, an embedded one not recorded, another runtime, a patch not made yet or damaged in storage) is
answered with the full file: a client must never be worse off for asking.
"""
from __future__ import annotations

import dataclasses
import uuid

from ...core import embedded, patches
from ...core.patches import PatchJob
from ...core.serving import AppView, BundleView, ChannelView
from .updates import Update, known_updates

HIT, MISS, FALLBACK = "hit", "miss", "fallback"
"""What became of a request that asked for a patch: served one; the base is good but no patch of the
pair exists (not made yet, or not worth it); the request or the stored patch was unusable."""


def _launch_asset(bundle: BundleView, platform: str) -> dict | None:
    return (bundle.extra.get("files", {}).get(platform) or {}).get("launchAsset")


def _is_expo(bundle: BundleView | None) -> bool:
    return bundle is not None and bundle.format == "expo" and bool(bundle.extra.get("files"))


# --- which patches to make -------------------------------------------------------------------


def patch_jobs(view: AppView, bases: int, stored: tuple[embedded.Embedded, ...] = ()) -> list[PatchJob]:
    """The launch-asset patches this app's channels want (made or not), `stored` its embedded bundles."""
    jobs: dict[tuple, PatchJob] = {}

    def want(target: BundleView, platform: str, old: dict | None) -> None:
        new = _launch_asset(target, platform)
        if new and old and new["sha256"] != old["sha256"]:
            jobs.setdefault((target.id, old["sha256"], new["sha256"]), PatchJob(
                target.id, old["sha256"], new["sha256"], old["size"], new["size"]))

    for channel in view.channels.values():
        for target, older in _targets(channel, bases):
            for base in older:
                for platform in sorted(set(target.extra["files"]) & set(base.extra["files"])):
                    want(target, platform, _launch_asset(base, platform))
            for base in stored:
                if base.runtime_version == target.runtime_version and base.platform in target.extra["files"]:
                    want(target, base.platform, {"sha256": base.sha256, "size": base.size})
    return list(jobs.values())


def _targets(channel: ChannelView, bases: int) -> list[tuple[BundleView, list[BundleView]]]:
    """(target bundle, its bases) per runtime version: the bundle the channel serves, and the one
    before it while the newest release is partly rolled out."""
    by_runtime: dict[str, list[tuple[BundleView, int]]] = {}
    for release in channel.history:  # newest first
        if release.disabled or not _is_expo(release.bundle):
            continue
        seen = by_runtime.setdefault(release.bundle.runtime_version, [])
        if all(bundle.id != release.bundle.id for bundle, _ in seen):
            seen.append((release.bundle, release.rollout))
    targets = []
    for bundles in by_runtime.values():
        served = 2 if bundles[0][1] < 100 else 1
        for index, (target, _) in enumerate(bundles[:served]):
            targets.append((target, [bundle for bundle, _ in bundles[index + 1:index + 1 + bases]]))
    return targets


# --- which patch a request gets --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PatchRequest:
    """The headers of a launch asset request that matter for a patch, as sent (untrusted)."""

    instance_manipulations: str | None
    platform: str | None
    current_update_id: str | None
    requested_update_id: str | None
    embedded_update_id: str | None


@dataclasses.dataclass(frozen=True)
class PatchChoice:
    outcome: str | None
    """HIT, MISS, FALLBACK, or None when the client did not ask for a patch."""
    patch: dict | None = None
    base_id: str | None = None
    """The update the patch applies to (the `expo-base-update-id` answered)."""


def asks_for_bsdiff(a_im: str | None) -> bool:
    """Whether an `A-IM` header (RFC 3229: a list of instance manipulations, each with parameters)
    names bsdiff."""
    return any(item.split(";", 1)[0].strip().lower() == patches.FORMAT for item in (a_im or "").split(","))


def _uuid(text: str | None) -> str | None:
    try:
        return str(uuid.UUID(text.strip())) if text else None
    except ValueError:
        return None


def requested_update(view: AppView, asked: PatchRequest) -> Update | None:
    """The update the client says the asset is for (Expo-Requested-Update-ID), when otabox served it."""
    return known_updates(view).get(_uuid(asked.requested_update_id))


def choose_patch(view: AppView, sha256: str, asked: PatchRequest) -> PatchChoice:
    """The patch to send for a request of the launch asset `sha256`, and what became of the request."""
    if not asks_for_bsdiff(asked.instance_manipulations):
        return PatchChoice(None)
    current, requested = _uuid(asked.current_update_id), _uuid(asked.requested_update_id)
    target = known_updates(view).get(requested)
    target_asset = _launch_asset(target.bundle, asked.platform or "") if target else None
    if current is None or target_asset is None or target_asset["sha256"] != sha256:
        return PatchChoice(FALLBACK)
    base_sha256 = _base_sha256(view, current, current == _uuid(asked.embedded_update_id), target.bundle,
                               asked.platform or "")
    if base_sha256 is None:
        return PatchChoice(FALLBACK)
    if base_sha256 == sha256:
        return PatchChoice(MISS)
    patch = patches.usable(target.bundle.extra, base_sha256, sha256)
    return PatchChoice(HIT, patch, current) if patch else PatchChoice(MISS)


def _base_sha256(view: AppView, current: str, on_embedded: bool, target: BundleView, platform: str) -> str | None:
    """The launch asset the device runs: its update's (an update of the target's runtime version
    otabox served), else, or when the device says it runs the embedded update, the launch bundle
    recorded for that embedded update, this runtime version and platform."""
    base = None if on_embedded else known_updates(view).get(current)
    if base is not None:
        asset = _launch_asset(base.bundle, platform)
        return asset["sha256"] if asset and base.bundle.runtime_version == target.runtime_version else None
    return next((found.sha256 for found in embedded.of_view(view) if found.update_id == current
                 and found.runtime_version == target.runtime_version and found.platform == platform), None)
