"""Pure CodePush package logic: package hash, rollout selector, diff packages.

Everything here must agree bit for bit with what the React Native CodePush
client computes on the phone, because the client checks the folder hash of an
installed update against the ``packageHash`` the server announced.

Package hash (the client's ``verifyFolderHash`` and the CLI's ``hash-utils``):
the client unzips the update and walks the resulting folder, so paths are the
zip entry names *as they are*: a zip whose files live under ``CodePush/`` is
hashed with the ``CodePush/`` prefix (which is also what the CLI produces,
because it hashes the release folder relative to its parent).  Only files
count; directory entries vanish once unzipped.  The walk skips anything whose
path, or the path of a folder above it, starts with ``__MACOSX/`` or is named
``.DS_Store`` or ``.codepushrelease`` (the code-signing JWT, which cannot be
part of the hash it signs).  Each file gives ``"<path>:<sha256 hex>"``; the
entries are sorted by UTF-16 code units, serialised like ``JSON.stringify``
and the SHA-256 hex of that UTF-8 text is the package hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import zipfile
from typing import BinaryIO, Iterable, Union

ZipSource = Union[str, os.PathLike, BinaryIO]

DIFF_MANIFEST_NAME = "hotcodepush.json"
SIGNATURE_FILE_NAME = ".codepushrelease"
_MACOS_METADATA_PREFIX = "__MACOSX/"
_FINDER_METADATA_NAME = ".DS_Store"
_UTF8_NAME_FLAG = 0x800
_READ_CHUNK = 1024 * 1024


# --- package hash -----------------------------------------------------------

def package_hash_from_zip(source: ZipSource) -> str:
    """The ``packageHash`` of a CodePush zip, as the client computes it after unzipping."""
    with zipfile.ZipFile(source) as archive:
        return package_hash_from_file_hashes(file_hashes_from_zip(archive))


def package_hash_from_file_hashes(file_hashes: dict[str, str]) -> str:
    """Package hash of a ``{relative path: sha256 hex}`` map (signature file left out)."""
    entries = [f"{path}:{digest}" for path, digest in file_hashes.items() if not is_ignored_path(path)]
    entries.sort(key=_utf16_sort_key)
    manifest = js_json_stringify_strings(entries)
    return hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def describe_zip(fields, staged, entries) -> dict:
    """The Ingestor's describer for plain zips: the package hash CodePush clients compute."""
    return {"packageHash": package_hash_from_file_hashes({e.path: e.sha256 for e in entries}), "files": len(entries)}


def file_hashes_from_zip(archive: zipfile.ZipFile) -> dict[str, str]:
    """``{path: sha256 hex}`` of the files the client keeps after unzipping.

    The signature file is included (diffs must carry it); only ``__MACOSX/``
    and ``.DS_Store`` content is dropped.  A later entry with the same name
    wins, as it would when extracted.
    """
    hashes: dict[str, str] = {}
    for info in archive.infolist():
        path = zip_entry_path(info)
        if info.is_dir() or is_ignored_path(path, include_signature=False):
            continue
        hashes[path] = _sha256_of_entry(archive, info)
    return hashes


def zip_entry_path(info: zipfile.ZipInfo) -> str:
    """The relative path an entry gets on the phone.

    Phones decode entry names as UTF-8 even without the zip's UTF-8 flag, so a
    name Python decoded as CP437 is re-decoded as UTF-8 when that is valid.
    Backslashes are normalised to ``/`` like the CodePush CLI and server do.
    """
    name = info.filename
    if not info.flag_bits & _UTF8_NAME_FLAG:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name.replace("\\", "/")


def is_ignored_path(path: str, include_signature: bool = True) -> bool:
    """Whether the client's folder walk skips this file (or a folder above it)."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        if _is_walk_ignored(prefix, include_signature):
            return True
    return False


def _is_walk_ignored(relative_path: str, include_signature: bool) -> bool:
    name = relative_path.rsplit("/", 1)[-1]
    if relative_path.startswith(_MACOS_METADATA_PREFIX) or name == _FINDER_METADATA_NAME:
        return True
    return include_signature and name == SIGNATURE_FILE_NAME


def _sha256_of_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    digest = hashlib.sha256()
    with archive.open(info) as stream:
        for chunk in iter(lambda: stream.read(_READ_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _utf16_sort_key(text: str) -> bytes:
    """Big-endian UTF-16 bytes compare exactly like JavaScript's default sort."""
    return text.encode("utf-16-be", "surrogatepass")


_JSON_ESCAPES = {
    '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f",
    "\n": "\\n", "\r": "\\r", "\t": "\\t",
}
_JSON_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\ud800-\udfff]')


def js_json_stringify_strings(values: Iterable[str]) -> str:
    """``JSON.stringify`` of an array of strings, character for character.

    Unlike ``json.dumps`` this keeps non-ASCII text literal, and escapes
    surrogate code points (unpaired in a Python str) as lowercase ``\\udxxx``.
    """
    return "[" + ",".join(f'"{_json_escape(value)}"' for value in values) + "]"


def _json_escape(value: str) -> str:
    def replace(match: re.Match) -> str:
        char = match.group()
        return _JSON_ESCAPES.get(char) or f"\\u{ord(char):04x}"

    return _JSON_NEEDS_ESCAPE.sub(replace, value)


# --- rollout selector -------------------------------------------------------

def js_hash_code(text: str) -> int:
    """code-push-server's string hash, with JavaScript number semantics.

    ``h = (h << 5) - h + c`` per UTF-16 code unit: the shift works on
    ``ToInt32(h)`` and wraps to int32, while the subtraction and addition are
    float64, so ``h`` may leave the int32 range between iterations.
    """
    value = 0.0
    units = text.encode("utf-16-le", "surrogatepass")
    for index in range(0, len(units), 2):
        code_unit = units[index] | (units[index + 1] << 8)
        shifted = _to_int32(_to_int32(value) << 5)
        value = float(shifted) - value + code_unit
    return int(value)


def _to_int32(number: float | int) -> int:
    wrapped = int(number) & 0xFFFFFFFF
    return wrapped - 0x100000000 if wrapped & 0x80000000 else wrapped


def in_codepush_rollout(client_unique_id: str, label_or_hash: str, rollout: int) -> bool:
    """Whether this device is inside a partial rollout, exactly as code-push-server decides."""
    return abs(js_hash_code(f"{client_unique_id}-{label_or_hash}")) % 100 < rollout


# --- diff packages ----------------------------------------------------------

def build_diff_zip(old_zip: ZipSource, new_zip: ZipSource, dest_file: str | os.PathLike) -> dict:
    """Write a CodePush diff package that turns ``old_zip`` into ``new_zip`` on the phone.

    The diff holds every file of the new package that is new or whose content
    changed (entry names kept as in the new zip) plus ``hotcodepush.json``
    ``{"deletedFiles": [...]}`` listing the old files that are gone.  The
    client copies its current package folder, deletes ``deletedFiles`` and
    overlays the diff, then checks the folder against the full package hash.

    Returns ``{"size", "sha256"}`` of the written zip, ``"base_package_hash"``
    (the device hash this diff applies to), ``"package_hash"`` (the result),
    ``"changed_files"`` and ``"deleted_files"`` (both sorted).
    """
    with zipfile.ZipFile(old_zip) as old_archive, zipfile.ZipFile(new_zip) as new_archive:
        old_hashes = file_hashes_from_zip(old_archive)
        new_hashes = file_hashes_from_zip(new_archive)
        if DIFF_MANIFEST_NAME in new_hashes:
            raise ValueError(f"a package may not contain a top-level {DIFF_MANIFEST_NAME}")
        changed = sorted(
            (path for path, digest in new_hashes.items() if old_hashes.get(path) != digest),
            key=_utf16_sort_key,
        )
        deleted = sorted((path for path in old_hashes if path not in new_hashes), key=_utf16_sort_key)
        _write_diff_archive(new_archive, changed, deleted, dest_file)
    size, sha256 = _size_and_sha256(dest_file)
    return {
        "size": size,
        "sha256": sha256,
        "base_package_hash": package_hash_from_file_hashes(old_hashes),
        "package_hash": package_hash_from_file_hashes(new_hashes),
        "changed_files": changed,
        "deleted_files": deleted,
    }


def _write_diff_archive(new_archive: zipfile.ZipFile, changed: list[str], deleted: list[str],
                        dest_file: str | os.PathLike) -> None:
    entries_by_path = {zip_entry_path(info): info for info in new_archive.infolist() if not info.is_dir()}
    with zipfile.ZipFile(dest_file, "w", compression=zipfile.ZIP_DEFLATED) as diff:
        diff.writestr(DIFF_MANIFEST_NAME, json.dumps({"deletedFiles": deleted}, ensure_ascii=False))
        for path in changed:
            with new_archive.open(entries_by_path[path]) as source, diff.open(path, "w") as target:
                shutil.copyfileobj(source, target, _READ_CHUNK)


def _size_and_sha256(path: str | os.PathLike) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_READ_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
