"""Content codings of full downloads: gzip always, br when the optional `brotli` package is installed.

Files are compressed once (when a bundle is ingested) and the encoded copies kept beside the original
in the blob store; these are the pure functions that make them."""
from __future__ import annotations

import gzip

try:
    import brotli
except ImportError:  # optional: `pip install 'otabox[brotli]'`
    brotli = None

GZIP_LEVEL = 6
BROTLI_QUALITY = 9
"""Quality 11 is about 5% smaller and 15 times slower (30 s for a 4 MB bundle): too slow for an upload."""


def available_codings() -> tuple[str, ...]:
    """The codings this box can make, best first."""
    return ("br", "gzip") if brotli is not None else ("gzip",)


def compress(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    if coding == "br" and brotli is not None:
        return brotli.compress(data, quality=BROTLI_QUALITY)
    raise ValueError(f"unknown or unavailable content coding {coding!r}")

