"""Reference applier and verifier of otabox's patch archives (`otabox-patch-v1`, the native protocol).

A check reply may offer, beside the full bundle, `bundle.patch = {url, expiresAt, size, sha256,
baseSha256, format}`: an archive that turns the bundle the device runs (`baseSha256`, the SHA-256 of
its zip) into the new one, and the signed statement names it (`patchSha256`). The archive is a zip:

- `otabox-patch.json`: `{"format": "otabox-patch-v1", "baseSha256", "targetSha256", "files", "deleted"}`;
  `files` lists every file of the new bundle as `{"path", "sha256", "size", "from"}`, where `from` is
  `"base"` (the base's file at `basePath`, unchanged), `"patch"` (the base's file at `basePath` with
  the patch at `patch/<path>`) or `"archive"` (the whole file at `add/<path>`); `deleted` names the
  base's files the new bundle no longer has;
- `patch/<path>` and `add/<path>` as above. A patch is BSDIFFXZ: the magic `BSDIFFXZ`, three 64-bit
  little-endian integers (the compressed lengths of the control and diff streams, the new file's
  size), then bsdiff's control, diff and extra streams, each an xz stream (BSDIFF40's layout with xz
  in place of bzip2); archives made by earlier servers hold BSDIFF40 patches. A patch is read by its
  first 8 bytes.

`apply_archive` checks the archive against the SHA-256 the signed reply names, builds every file of
the new bundle into a fresh folder, checks each file's SHA-256 and size, and only then returns: a
device swaps to the folder only when this succeeds, and downloads the full bundle otherwise. Copy
this file into a client or use it as the specification. It needs `bsdiff4` (and the standard
library's `lzma`). From a shell:

    python otabox_patch.py --base base.zip --patch patch.zip --sha256 <patchSha256> --out new-bundle/
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import os
import posixpath
import shutil
import tempfile
import zipfile
from pathlib import Path

try:
    import bsdiff4
    import bsdiff4.core
except ModuleNotFoundError:
    if __name__ != "__main__":
        raise
    raise SystemExit("otabox_patch.py needs the bsdiff4 package: pip install bsdiff4") from None

FORMAT = "otabox-patch-v1"
MANIFEST = "otabox-patch.json"
BSDIFFXZ, BSDIFF40 = b"BSDIFFXZ", b"BSDIFF40"


class PatchError(Exception):
    """The patch must not be used (download the full bundle); the message says why."""


def _safe(path: str) -> str:
    """A relative path inside the bundle folder (never absolute, never climbing out of it)."""
    if (not isinstance(path, str) or not path or path.startswith(("/", "\\")) or "\\" in path or "\0" in path
            or posixpath.normpath(path) != path or path.split("/")[0] == ".."):
        raise PatchError(f"unsafe path in the patch: {path!r}")
    return path


class _Base:
    """The bundle the device runs: its zip, or the folder it was unpacked into."""

    def __init__(self, base: Path):
        self.zip = zipfile.ZipFile(base) if base.is_file() else None
        self.folder = None if self.zip else base

    def read(self, path: str) -> bytes:
        try:
            return self.zip.read(_safe(path)) if self.zip else (self.folder / _safe(path)).read_bytes()
        except (KeyError, OSError):
            raise PatchError(f"the base bundle has no file {path!r}") from None


def apply_archive(base: Path, archive: bytes, out: Path, expected_sha256: str) -> dict:
    """Build the new bundle from `base` (zip or folder) and `archive` into the new folder `out`;
    returns the archive's manifest. Raises PatchError, leaving nothing at `out`, when anything is off."""
    if hashlib.sha256(archive).hexdigest() != expected_sha256.lower():
        raise PatchError("the patch is not the one the signed reply names (patchSha256)")
    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
        manifest = json.loads(bundle.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise PatchError("not an otabox patch archive") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), list):
        raise PatchError(f"not an {FORMAT} archive")
    if base.is_file() and hashlib.sha256(base.read_bytes()).hexdigest() != manifest.get("baseSha256"):
        raise PatchError("the patch is for another base bundle")
    source = _Base(base)
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".patching-", dir=out.parent))
    try:
        for entry in manifest["files"]:
            data = _build(entry, source, bundle)
            if len(data) != entry.get("size") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
                raise PatchError(f"{entry.get('path')!r} does not have the SHA-256 the patch names")
            target = building / _safe(entry["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        os.replace(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return manifest


def _build(entry: dict, source: _Base, bundle: zipfile.ZipFile) -> bytes:
    path, kind = _safe(entry.get("path")), entry.get("from")
    try:
        if kind == "base":
            return source.read(entry["basePath"])
        if kind == "patch":
            return _patched(source.read(entry["basePath"]), bundle.read("patch/" + path))
        if kind == "archive":
            return bundle.read("add/" + path)
    except PatchError:
        raise
    except Exception as exc:  # a truncated member, a damaged bsdiff patch
        raise PatchError(f"cannot build {path!r}: {exc}") from None
    raise PatchError(f"unknown source {kind!r} for {path!r}")


def _patched(old: bytes, patch: bytes) -> bytes:
    """One file from its base and its patch: BSDIFFXZ or BSDIFF40, by the magic."""
    if patch.startswith(BSDIFF40):
        return bsdiff4.patch(old, patch)
    if not patch.startswith(BSDIFFXZ) or len(patch) < 32:
        raise PatchError("a patch that is neither BSDIFFXZ nor BSDIFF40")
    control_size, diff_size, new_size = (int.from_bytes(patch[at:at + 8], "little") for at in (8, 16, 24))
    limits = (24 * (new_size + 1), new_size, new_size)  # a control triple is 24 bytes and adds at least one
    bounds = (32, 32 + control_size, 32 + control_size + diff_size, len(patch))
    streams = []
    for start, end, limit in zip(bounds, bounds[1:], limits):
        decompressor = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        stream = decompressor.decompress(patch[start:end], max_length=limit + 1)
        if end > len(patch) or len(stream) > limit or not decompressor.eof or decompressor.unused_data:
            raise PatchError("a damaged BSDIFFXZ patch")
        streams.append(stream)
    if len(streams[0]) % 24:
        raise PatchError("a damaged BSDIFFXZ patch")
    return bsdiff4.core.patch(old, new_size, *streams)


def _check_paths(args) -> None:
    """Refuse before any work what would fail after it: a missing input, or an --out that is there already."""
    for path, what in ((args.base, "base bundle"), (args.patch, "patch archive")):
        if not path.exists():
            raise SystemExit(f"error: the {what} {path} does not exist")
    if args.out.exists() or args.out.is_symlink():
        raise SystemExit(f"error: {args.out} already exists; --out names a new folder for the built bundle")


def main() -> None:
    parser = argparse.ArgumentParser(description="Apply an otabox-patch-v1 archive to a bundle, verified.")
    parser.add_argument("--base", type=Path, required=True, help="The bundle the device runs (zip or folder).")
    parser.add_argument("--patch", type=Path, required=True, help="The downloaded patch archive.")
    parser.add_argument("--sha256", required=True, help="patchSha256 of the signed check reply.")
    parser.add_argument("--out", type=Path, required=True, help="The new bundle's folder (must not exist).")
    args = parser.parse_args()
    _check_paths(args)
    try:
        manifest = apply_archive(args.base, args.patch.read_bytes(), args.out, args.sha256)
    except PatchError as exc:
        raise SystemExit(f"refused: {exc}")
    print(f"built {len(manifest['files'])} files of bundle {manifest.get('targetSha256')} in {args.out}")


if __name__ == "__main__":
    main()
