"""Patches for otabox's own clients: a zip bundle offered as an `otabox-patch-v1` archive (core/patch_archive.py)
from the bundle the device runs.

Which patches a native app wants (`patch_jobs`, a planner of the patch maker in ops/): on every
channel, from the last `bases` distinct zip bundles released before it, and from the builtin
bundles embedded in the store binaries (recorded with a native version, the newest `bases` per
platform), to the bundle the channel serves (and the one before it while a partial rollout leaves
devices on it). Encrypted bundles get none: their bytes differ with every upload.

Which patch a check gets (`offered_patch`): the device names the bundle it runs by `version`, by
`currentSha256`, or as `"builtin"` (then the embedded bundle of its platform and `nativeVersion` is
the base). The patch is offered only when it was made for exactly that pair and its file in storage
is intact (checked once per serving view); otherwise the reply has no `patch`, and the device
downloads the full bundle as before.
"""
from __future__ import annotations

import contextlib
import hashlib

from ...core import embedded, patches
from ...core.patches import PatchJob
from ...core.serving import AppView, BundleView, ChannelView
from ...errors import OtaboxError
from ...store.blobs import is_sha256


def _patchable(bundle: BundleView | None) -> bool:
    return bundle is not None and bundle.format == "zip" and not bundle.session_key


def _fits(target: BundleView, platform: str) -> bool:
    return target.platform == "all" or platform in ("all", target.platform)


# --- which patches to make -------------------------------------------------------------------


def patch_jobs(view: AppView, bases: int, stored: tuple[embedded.Embedded, ...] = ()) -> list[PatchJob]:
    """The patch archives this app's channels want (made or not), `stored` its embedded bundles."""
    builtin: dict[str, list[embedded.Embedded]] = {}
    for found in reversed(stored):  # newest first
        if found.native_version:
            builtin.setdefault(found.platform, []).append(found)
    jobs: dict[tuple, PatchJob] = {}
    for channel in view.channels.values():
        for target, older in _targets(channel, bases):
            candidates = [(b.sha256, b.size, b.platform) for b in older]
            candidates += [(e.sha256, e.size, e.platform) for found in builtin.values() for e in found[:bases]]
            for sha256, size, platform in candidates:
                if sha256 != target.sha256 and _fits(target, platform):
                    jobs.setdefault((target.id, sha256, target.sha256), PatchJob(
                        target.id, sha256, target.sha256, size, target.size, patches.ARCHIVE_FORMAT))
    return list(jobs.values())


def _targets(channel: ChannelView, bases: int) -> list[tuple[BundleView, list[BundleView]]]:
    """(target bundle, its bases): the bundle the channel serves, and the one before it while the
    newest release is partly rolled out."""
    seen: list[tuple[BundleView, int]] = []
    for release in channel.history:  # newest first
        if not release.disabled and _patchable(release.bundle) and all(b.id != release.bundle.id for b, _ in seen):
            seen.append((release.bundle, release.rollout))
    if not seen:
        return []
    served = 2 if seen[0][1] < 100 else 1
    return [(target, [bundle for bundle, _ in seen[index + 1:index + 1 + bases]])
            for index, (target, _) in enumerate(seen[:served])]


# --- which patch a check gets ----------------------------------------------------------------


def base_sha256(view: AppView, platform: str | None, version: str | None, current_sha256: str | None,
                native_version: str | None, on_builtin: bool) -> str | None:
    """The bundle file the device runs, as far as otabox knows it."""
    if current_sha256:
        return current_sha256.lower() if is_sha256(current_sha256.lower()) else None
    if on_builtin:
        return next((found.sha256 for found in reversed(embedded.of_view(view))
                     if found.native_version and found.native_version == native_version
                     and found.platform == platform), None)
    bundle_id = view.bundle_for_version(version, platform) if version else None
    return view.bundles[bundle_id].sha256 if bundle_id is not None else None


def offered_patch(b, view: AppView, target: BundleView, base: str | None) -> dict | None:
    """The made patch archive from `base` to `target` whose file is intact, or None."""
    if not base or base == target.sha256:
        return None
    patch = patches.usable(target.extra, base, target.sha256)
    if patch is None or patch.get("format") != patches.ARCHIVE_FORMAT or not _intact(b, view, patch):
        return None
    return patch


def _intact(b, view: AppView, patch: dict) -> bool:
    """Whether the patch's file is in storage with its digest, read once per serving view (a store
    that does not answer is asked again by the next check)."""
    checked = view.memo.setdefault("native_patches_intact", {})
    if patch["sha256"] not in checked:
        try:
            with contextlib.closing(b.store.open(patch["sha256"])) as stream:
                body = stream.read(patch["size"] + 1)
        except (OtaboxError, OSError):  # a file missing, a bucket away: the full bundle serves
            return False
        checked[patch["sha256"]] = len(body) == patch["size"] and hashlib.sha256(body).hexdigest() == patch["sha256"]
    return checked[patch["sha256"]]
