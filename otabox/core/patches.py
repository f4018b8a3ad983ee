"""Binary patches: a bundle file sent as the difference from a file the device already has.

The format is BSDIFF40 (Colin Percival's bsdiff, bzip2 blocks), written by the `bsdiff4` extension
(`bsdiff4.diff`, run by ops/patches.py's Differ): the format expo-updates applies with the original
bspatch code. The native protocol's archives hold BSDIFFXZ patches instead (core/xzdiff.py). Everything here is a pure function
over bytes and records, except `record_patch`, the one operation that writes what was made.

A patch is recorded on its target bundle, in `extra["patches"]` as `{target sha256: {base sha256:
outcome}}`, where an outcome is either a made patch `{"sha256", "size", "format", "compressedFullSize"}` (its
blob listed in `extra["blobs"]` too, which garbage collection, backups and bundle deletion follow,
so a patch lives and dies with the bundle it leads to) or `{"skipped": reason}` for a pair that
will never get one (too large to diff in bounded memory, a patch not smaller than the compressed
full file, a file missing from storage). The serving state (`BundleView.extra`) carries the map to
the request path without a query.
"""
from __future__ import annotations

import dataclasses

import bsdiff4

from ..store.models import Bundle
from . import compression
from .change import changing

FORMAT = "bsdiff"
"""One file as a BSDIFF40 patch of another (Expo launch assets)."""
ARCHIVE_FORMAT = "otabox-patch-v1"
"""A whole zip bundle as per-file patches of another (the native protocol; core/patch_archive.py): made
with BSDIFFXZ (core/xzdiff.py); archives made before it hold BSDIFF40, which clients tell by the magic."""
MAGIC = b"BSDIFF40"
PATCHES_KEY = "patches"
MEMORY_FACTOR = 17
"""bsdiff's suffix sort holds about 17 bytes per input byte; `too_large` keeps a pair within budget."""
WORTH_RATIO = 0.75
"""A patch is kept only when at most this share of the compressed full file: a smaller saving is not
worth the client's work (and its risk of falling back to a second, full download)."""
SKIPPED_TOO_LARGE, SKIPPED_NOT_SMALLER, SKIPPED_UNREADABLE = "too_large", "not_smaller", "unreadable"
ACTOR = "patch-maker"


@dataclasses.dataclass(frozen=True)
class PatchJob:
    """One patch to make: from the file `base_sha256` to the file `target_sha256` of bundle `bundle_id`."""

    bundle_id: int
    base_sha256: str
    target_sha256: str
    base_size: int
    target_size: int
    format: str = FORMAT
    """FORMAT for a file's patch, ARCHIVE_FORMAT for a zip bundle's patch archive."""


def too_large(job: PatchJob, max_input_bytes: int) -> bool:
    """Whether diffing the pair could need more memory than `max_input_bytes` of input allows."""
    return max(job.base_size, job.target_size) > max_input_bytes


def apply_patch(old: bytes, patch: bytes) -> bytes:
    """`new` from `old` and a BSDIFF40 patch; ValueError for a patch that is not one (or truncated),
    as the original bspatch refuses it."""
    if not patch.startswith(MAGIC):
        raise ValueError("not a BSDIFF40 patch")
    try:
        return bsdiff4.patch(old, patch)
    except Exception as exc:  # bsdiff4 raises ValueError, bz2's OSError/EOFError, or SystemError
        raise ValueError(f"not a usable BSDIFF40 patch: {exc}") from None


def compressed_size(data: bytes) -> int:
    """The size of the full download a client gets at least (gzip, which every client accepts)."""
    return len(compression.compress(data, "gzip"))


def worth_serving(patch_size: int, full_compressed_size: int) -> bool:
    return patch_size <= WORTH_RATIO * full_compressed_size


def recorded(extra: dict, base_sha256: str, target_sha256: str) -> dict | None:
    """What was recorded for the pair (a made patch or a skip), or None while nothing was."""
    return ((extra or {}).get(PATCHES_KEY, {}).get(target_sha256) or {}).get(base_sha256)


def usable(extra: dict, base_sha256: str, target_sha256: str) -> dict | None:
    """The made patch of the pair, or None (not made yet, or skipped)."""
    outcome = recorded(extra, base_sha256, target_sha256)
    return outcome if outcome and outcome.get("sha256") else None


def made(patch_sha256: str, patch_size: int, compressed_full_size: int, format: str = FORMAT) -> dict:
    return {"sha256": patch_sha256, "size": patch_size, "format": format, "compressedFullSize": compressed_full_size}


def skipped(reason: str) -> dict:
    return {"skipped": reason}


def record_patch(job: PatchJob, outcome: dict) -> bool:
    """Record what was made for `job` on its target bundle, with an audit entry, in one transaction;
    False when the bundle is gone (its patch blob, unreferenced, goes with the next `otabox gc`)."""
    action = "patch.skipped" if "skipped" in outcome else "patch.made"
    with changing(ACTOR, action, "bundle", job.bundle_id,
                  {"base": job.base_sha256, "target": job.target_sha256, **outcome}) as change:
        row = Bundle.get_or_none(Bundle.id == job.bundle_id)
        if row is None:
            change.skip()
            return False
        extra = dict(row.extra or {})
        patches = {target: dict(bases) for target, bases in extra.get(PATCHES_KEY, {}).items()}
        patches.setdefault(job.target_sha256, {})[job.base_sha256] = outcome
        extra[PATCHES_KEY] = patches
        if outcome.get("sha256"):
            extra["blobs"] = sorted(set(extra.get("blobs", ())) | {outcome["sha256"]})
        Bundle.update(extra=extra).where(Bundle.id == job.bundle_id).execute()
    return True


def base_names(bundles, embedded) -> dict[str, str]:
    """What each possible base file is, for people: a bundle's version (and platform, for an Expo
    launch asset), or the store binary's embedded bundle."""
    names = {}
    for bundle in bundles:
        names[bundle.sha256] = bundle.version
        for platform, files in (bundle.extra.get("files") if bundle.format == "expo" else {}).items():
            if (files or {}).get("launchAsset"):
                names[files["launchAsset"]["sha256"]] = f"{bundle.version} ({platform})"
    for found in embedded:
        names[found.sha256] = f"embedded {found.runtime_version or found.native_version} ({found.platform})"
    return names


def listed(extra: dict, names: dict[str, str]) -> list[dict]:
    """The patches recorded for a bundle, one per target file and base: made (size, format, the
    compressed full file it saves) or skipped (why)."""
    rows = []
    for target, bases in sorted((extra or {}).get(PATCHES_KEY, {}).items()):
        for base, outcome in sorted(bases.items()):
            row = {"targetSha256": target, "baseSha256": base, "base": names.get(base)}
            if outcome.get("sha256"):
                row.update({"format": outcome["format"], "size": outcome["size"],
                            "compressedFullSize": outcome["compressedFullSize"]})
            else:
                row["skipped"] = outcome.get("skipped")
            rows.append(row)
    return rows
