"""CodePush diff packages: built from the stored zips, kept in the blob store, recorded on the bundle.

A diff turns the package a device runs (named by its package hash) into a newer bundle. Diffs are
built against the last `DIFF_BASE_COUNT` distinct bundles released on the channel before the release
that serves the bundle: all of them when a release is made through the CodePush management API
(`precompute_diffs`), and otherwise one at a time, on the first update check that needs it
(`diff_for`); either way each diff is built once.

Where they are recorded: in the target bundle's `extra`, as `codepushDiffs` `{base package hash:
{sha256, size}}`, with each diff's digest also listed in `extra["blobs"]`. That list is what garbage
collection, backups and bundle deletion already follow, so a diff lives and dies with its bundle,
and the serving state (`BundleView.extra`) carries the map to the check path without a query."""
from __future__ import annotations

import logging
import threading

from ...core.bundles import amend_extra
from ...core.serving import BundleView, ChannelView, ReleaseView
from ...errors import NotFound
from ...store.blobs import StagedFile
from ...store.models import Bundle
from .package import build_diff_zip

DIFF_BASE_COUNT = 5
DIFFS_KEY = "codepushDiffs"
log = logging.getLogger("otabox.codepush")
_build_lock = threading.Lock()
"""Builds are rare and write the bundle row read-modify-write; one at a time per process."""


def recorded_diffs(bundle: BundleView | Bundle) -> dict[str, dict]:
    """`{base package hash: {"sha256", "size"}}` of the diffs built for a bundle so far."""
    return dict((bundle.extra or {}).get(DIFFS_KEY, {}))


def _diffable(bundle: BundleView | None) -> bool:
    return bundle is not None and bundle.format == "zip" and bool(bundle.package_hash) and not bundle.session_key


def diff_bases(channel: ChannelView, release: ReleaseView) -> list[BundleView]:
    """The last distinct bundles released on the channel before `release` (disabled ones too: devices
    may still run them), newest first, at most DIFF_BASE_COUNT."""
    target = release.bundle
    if not _diffable(target):
        return []
    bases: dict[str, BundleView] = {}
    older = False
    for entry in channel.history:
        if entry.id == release.id:
            older = True
            continue
        bundle = entry.bundle
        if (older and _diffable(bundle) and bundle.package_hash != target.package_hash
                and bundle.package_hash not in bases):
            bases[bundle.package_hash] = bundle
            if len(bases) == DIFF_BASE_COUNT:
                break
    return list(bases.values())


def diff_for(box, channel: ChannelView, release: ReleaseView, device_package_hash: str | None) -> dict | None:
    """The diff from the device's package to the release's bundle, building it if the device runs one
    of the release's diff bases (and the database is there to record it); None when the device must
    download the full package."""
    target = release.bundle if release else None
    if not device_package_hash or not _diffable(target) or device_package_hash == target.package_hash:
        return None
    known = recorded_diffs(target).get(device_package_hash)
    if known:
        return known
    if box.serving.offline:  # nothing is built while the database is away: the device gets the full package
        return None
    base = next((b for b in diff_bases(channel, release) if b.package_hash == device_package_hash), None)
    return _build_and_record(box, base, target) if base else None


def precompute_diffs(box, channel: ChannelView, release: ReleaseView) -> dict[str, dict]:
    """Build every diff of a new release (what code-push-server does after a release)."""
    built = recorded_diffs(release.bundle) if _diffable(release.bundle) else {}
    for base in diff_bases(channel, release):
        if base.package_hash not in built:
            diff = _build_and_record(box, base, release.bundle)
            if diff:
                built[base.package_hash] = diff
    return built


def _build_and_record(box, base: BundleView, target: BundleView) -> dict | None:
    with _build_lock:
        row = Bundle.get_or_none(Bundle.id == target.id)
        if row is None:
            return None
        existing = recorded_diffs(row).get(base.package_hash)
        if existing:
            return existing
        diff = _build(box, base, target)
        if diff is None:
            return None

        def record(extra: dict) -> dict:
            extra[DIFFS_KEY] = {**extra.get(DIFFS_KEY, {}), base.package_hash: diff}
            extra["blobs"] = sorted(set(extra.get("blobs", ())) | {diff["sha256"]})
            return extra

        amend_extra(target.id, record)
        return diff


def _build(box, base: BundleView, target: BundleView) -> dict | None:
    dest = box.staging.new_path()
    try:
        with box.store.local_copy(base.sha256, box.staging) as old_path, \
                box.store.local_copy(target.sha256, box.staging) as new_path:
            info = build_diff_zip(old_path, new_path, dest)
    except NotFound:  # a bundle file missing from storage: devices get the full package
        return None
    except Exception:  # a bundle the differ cannot read is served in full instead
        log.exception("building the CodePush diff %s -> %s failed", base.id, target.id)
        dest.unlink(missing_ok=True)
        return None
    if info["base_package_hash"] != base.package_hash or info["package_hash"] != target.package_hash:
        log.warning("CodePush diff %s -> %s does not reproduce the package hashes; not served", base.id, target.id)
        dest.unlink(missing_ok=True)
        return None
    box.store.put(StagedFile(dest, info["sha256"], info["size"]))
    return {"sha256": info["sha256"], "size": info["size"]}
