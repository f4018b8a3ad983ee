"""The `otabox-patch-v1` archive: a zip bundle sent as the difference from a zip bundle the device has.

A zip (README, "Native patches") holding:

- `otabox-patch.json`: `{"format": "otabox-patch-v1", "baseSha256", "targetSha256", "files": [...],
  "deleted": [...]}`, where `files` lists every file of the new bundle, sorted by path, as
  `{"path", "sha256", "size", "from"}` plus `"basePath"` when `from` is `"base"` or `"patch"`:
  - `"base"`: the base bundle's file at `basePath`, unchanged (a file that moved keeps its bytes);
  - `"patch"`: the base file at `basePath` with the BSDIFFXZ patch (core/xzdiff.py) stored at `patch/<path>`;
  - `"archive"`: the whole file, stored at `add/<path>`;
  and `deleted` the base's paths the new bundle no longer has (the client need not read it: the new
  bundle is exactly `files`; it is there for clients that update a folder in place);
- every resulting file's SHA-256, so the client verifies before it swaps bundles.

Its patches were BSDIFF40 (bzip2) at first; BSDIFFXZ's xz streams make the patches of Hermes
bytecode about a fifth smaller (bench/README.md), and clients tell the two apart by the magic. Built as a pure function over the two zips;
`diff` makes one file's BSDIFFXZ patch (the patch maker runs it within its memory budget), and every
patch is checked before it goes in.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from typing import Callable

from . import xzdiff
from .patches import ARCHIVE_FORMAT

MANIFEST = "otabox-patch.json"
PATCH_DIR, ADD_DIR = "patch/", "add/"
FROM_BASE, FROM_PATCH, FROM_ARCHIVE = "base", "patch", "archive"
FIXED_DATE = (2020, 1, 1, 0, 0, 0)
"""Entries carry a fixed date, so the same pair always gives the same archive (and the same digest)."""


def _files(bundle: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    return {info.filename: info for info in bundle.infolist() if not info.is_dir()}


def _entry(archive: zipfile.ZipFile, name: str, data: bytes, compress: int) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.external_attr = 0o644 << 16
    archive.writestr(info, data, compress_type=compress)


def build_archive(base: zipfile.ZipFile, target: zipfile.ZipFile, base_sha256: str, target_sha256: str,
                  diff: Callable[[bytes, bytes], bytes], max_file_bytes: int) -> bytes:
    """The archive turning `base`'s files into `target`'s. A changed file is patched when both sides
    are at most `max_file_bytes` and the patch is smaller than the file deflated; otherwise whole."""
    base_files = _files(base)
    by_digest = {hashlib.sha256(base.read(name)).hexdigest(): name for name in sorted(base_files)}
    target_files = _files(target)
    listed = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(target_files):
            data = target.read(path)
            digest = hashlib.sha256(data).hexdigest()
            entry = {"path": path, "sha256": digest, "size": len(data)}
            if digest in by_digest:
                entry.update({"from": FROM_BASE, "basePath": by_digest[digest]})
            else:
                patch = _patch(base, base_files.get(path), data, diff, max_file_bytes)
                if patch is not None:
                    entry.update({"from": FROM_PATCH, "basePath": path})
                    _entry(archive, PATCH_DIR + path, patch, zipfile.ZIP_STORED)  # xz inside already
                else:
                    entry["from"] = FROM_ARCHIVE
                    _entry(archive, ADD_DIR + path, data, zipfile.ZIP_DEFLATED)
            listed.append(entry)
        manifest = {"format": ARCHIVE_FORMAT, "baseSha256": base_sha256, "targetSha256": target_sha256,
                    "files": listed, "deleted": sorted(set(base_files) - set(target_files))}
        _entry(archive, MANIFEST, json.dumps(manifest, sort_keys=True, indent=1).encode(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _patch(base: zipfile.ZipFile, old_info: zipfile.ZipInfo | None, new: bytes,
           diff: Callable[[bytes, bytes], bytes], max_file_bytes: int) -> bytes | None:
    """The checked patch of one changed file from the base's file at the same path, when worth it."""
    if old_info is None or max(old_info.file_size, len(new)) > max_file_bytes:
        return None
    old = base.read(old_info.filename)
    patch = diff(old, new)
    if len(patch) >= len(zlib.compress(new, 6)):
        return None
    try:
        return patch if xzdiff.patch(old, patch) == new else None
    except ValueError:
        return None
