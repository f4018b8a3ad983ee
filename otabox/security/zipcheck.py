"""Validation of uploaded bundle zips: readable, safe paths, no links, no zip-level encryption, no bombs."""
from __future__ import annotations

import dataclasses
import hashlib
import stat
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable

from ..errors import Invalid

CHUNK = 1024 * 1024
DAMAGED_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, struct.error, OSError, EOFError, NotImplementedError,
                      RuntimeError, ValueError)
"""What zipfile raises on damaged or unsupported archives (NotImplementedError: a version or
compression method it lacks; RuntimeError: a password is needed)."""


@dataclasses.dataclass(frozen=True)
class ZipEntry:
    path: str
    sha256: str
    size: int


@dataclasses.dataclass(frozen=True)
class ZipLimits:
    max_entries: int
    max_uncompressed_bytes: int


def _unsafe_reason(name: str) -> str | None:
    if not name or "\x00" in name:
        return "an empty or NUL name"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if "\\" in name:
        return "a backslash in the path"
    if ".." in PurePosixPath(name).parts:
        return "a '..' component"
    return None


FileSink = Callable[[BinaryIO, int], tuple[str, int]]


def hash_only(member: BinaryIO, limit: int) -> tuple[str, int]:
    """The default sink: SHA-256 and size of a member, reading at most `limit` bytes."""
    digest = hashlib.sha256()
    size = 0
    while chunk := member.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise Invalid("the zip expands beyond the allowed size", code="zip_bomb")
        digest.update(chunk)
    return digest.hexdigest(), size


def check_zip(path: Path, limits: ZipLimits, sink: FileSink = hash_only) -> list[ZipEntry]:
    """Validate the zip at `path` and return its files with their SHA-256 (reading every byte).

    Declared sizes can lie, so the uncompressed total is counted while reading, not only from the
    central directory. `sink` receives each member's stream (e.g. to store every file too)."""
    try:
        archive = zipfile.ZipFile(path)
    except DAMAGED_ZIP_ERRORS as exc:
        raise Invalid("the bundle is not a readable zip file", code="invalid_zip",
                      details={"reason": str(exc)}) from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise Invalid("the zip has too many entries", code="zip_too_many_entries",
                          details={"entries": len(infos), "limit": limits.max_entries})
        declared = sum(info.file_size for info in infos)
        if declared > limits.max_uncompressed_bytes:
            raise Invalid("the zip expands beyond the allowed size", code="zip_bomb",
                          details={"uncompressedBytes": declared, "limit": limits.max_uncompressed_bytes})
        seen: set[str] = set()
        for info in infos:
            reason = _unsafe_reason(info.filename)
            if reason:
                raise Invalid(f"the zip has an unsafe entry ({reason})", code="unsafe_zip_entry",
                              details={"entry": info.filename[:300]})
            if stat.S_ISLNK(info.external_attr >> 16):
                raise Invalid("the zip contains a symbolic link", code="unsafe_zip_entry",
                              details={"entry": info.filename[:300]})
            if info.flag_bits & 0x1:
                raise Invalid("the zip is encrypted at the zip level; use bundle encryption instead",
                              code="encrypted_zip", details={"entry": info.filename[:300]})
            if info.filename in seen:
                raise Invalid("the zip names one entry twice", code="duplicate_zip_entry",
                              details={"entry": info.filename[:300]})
            seen.add(info.filename)
        budget = limits.max_uncompressed_bytes
        entries = []
        for info in infos:
            if info.is_dir():
                continue
            try:
                with archive.open(info) as member:
                    sha256, size = sink(member, budget)
                budget -= size
                entries.append(ZipEntry(info.filename, sha256, size))
            except DAMAGED_ZIP_ERRORS as exc:
                raise Invalid("the zip is damaged or uses an unsupported compression", code="invalid_zip",
                              details={"entry": info.filename[:300], "reason": str(exc)}) from exc
        if not entries:
            raise Invalid("the zip contains no files", code="empty_zip")
        return entries

