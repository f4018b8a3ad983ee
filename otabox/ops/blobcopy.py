"""Copying every bundle file from one blob store to another (`otabox migrate-storage`), verified.

Each blob is read from the source into the staging area, hashed on the way (a file whose bytes no
longer match its name is reported, not copied), stored in the destination, then read back from the
destination and hashed again. Blobs the destination has already are checked the same way and not
sent again, so an interrupted copy can simply be run again."""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable

from ..errors import NotFound
from ..store.blobs import CHUNK


@dataclasses.dataclass
class CopyReport:
    copied: int = 0
    present: int = 0
    bytes: int = 0
    corrupt: list[str] = dataclasses.field(default_factory=list)
    """Blobs whose bytes do not match their name (in the source, or as the destination holds them)."""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def digest_of(store, sha256: str) -> str | None:
    """The SHA-256 of the bytes `store` holds under `sha256`, or None when it holds none."""
    try:
        handle = store.open(sha256)
    except NotFound:
        return None
    digest = hashlib.sha256()
    with handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_blobs(source, dest, staging, progress: Callable[[int, int, CopyReport], None] | None = None) -> CopyReport:
    keys = sorted(source.all_keys())
    report = CopyReport()
    for done, sha in enumerate(keys, 1):
        if digest_of(dest, sha) == sha:
            report.present += 1
        else:
            with source.open(sha) as handle:
                staged = staging.receive(handle, 1 << 62)
            if staged.sha256 != sha:
                staged.discard()
                report.corrupt.append(sha)
            else:
                report.bytes += staged.size
                dest.put(staged)
                if digest_of(dest, sha) == sha:
                    report.copied += 1
                else:
                    report.corrupt.append(sha)
        if progress is not None:
            progress(done, len(keys), report)
    return report
