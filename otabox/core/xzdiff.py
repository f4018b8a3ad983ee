"""BSDIFFXZ: a bsdiff patch whose three streams are compressed by xz instead of bzip2, the per-file
patch of `otabox-patch-v1` archives (the native protocol; core/patch_archive.py).

On Hermes bytecode bsdiff's diff and extra streams are large and irregular (string and function ids
shift through the whole file); bzip2 compresses each 900 kB block on its own, xz over the whole
stream with an 8 MiB window, which makes these patches about a fifth smaller (bench/patches.py).
Expo launch assets stay BSDIFF40 (core/patches.py): expo-updates applies only that.

The layout is BSDIFF40's: the magic `BSDIFFXZ`, three 64-bit little-endian integers (the control
stream's and the diff stream's compressed lengths, the new file's size), then the three xz streams:
control (bsdiff's (add, copy, seek) triples), diff and extra. Only the standard library's `lzma`
and `bsdiff4` are needed, here and in the reference applier (clients/python/otabox_patch.py); this
module imports nothing else, so the patch maker's child process stays small.
"""
from __future__ import annotations

import lzma

import bsdiff4.core

MAGIC = b"BSDIFFXZ"
HEADER = 32
PRESET = 6 | lzma.PRESET_EXTREME
WINDOW_MAX = 8 * 1024 * 1024
"""Preset 6's window, at most: about 94 MB to compress, 9 MB to decompress (preset 9's 64 MiB window
made the same patches of the bench's bundles for several hundred MB). A shorter stream gets a window
its own size, so a small pair diffed inside the server costs it little."""
CONTROL_BYTES_PER_OUTPUT_BYTE = 24
"""A control triple is 24 bytes and adds at least one byte, which bounds the control stream."""


def _encode(length: int) -> bytes:
    return length.to_bytes(8, "little")


def _xz(stream: bytes) -> bytes:
    window = min(WINDOW_MAX, max(4096, len(stream)))
    return lzma.compress(stream, lzma.FORMAT_XZ, filters=[{"id": lzma.FILTER_LZMA2, "preset": PRESET, "dict_size": window}])


def pack(new_size: int, control: bytes, diff: bytes, extra: bytes) -> bytes:
    """The BSDIFFXZ patch of bsdiff's three raw streams (`bsdiff4.core.diff`'s answer)."""
    control, diff, extra = (_xz(stream) for stream in (control, diff, extra))
    return b"".join([MAGIC, _encode(len(control)), _encode(len(diff)), _encode(new_size), control, diff, extra])


def diff(old: bytes, new: bytes) -> bytes:
    """The BSDIFFXZ patch turning `old` into `new`."""
    return pack(len(new), *bsdiff4.core.diff(old, new))


def file_diff(old_path: str, new_path: str, patch_path: str) -> None:
    """Write the BSDIFFXZ patch from one file to another (bsdiff4.file_diff's signature, for a child process)."""
    with open(old_path, "rb") as old, open(new_path, "rb") as new:
        patch = diff(old.read(), new.read())
    with open(patch_path, "wb") as out:
        out.write(patch)


def _stream(data: bytes, limit: int) -> bytes:
    """One xz stream, refused when it holds more than `limit` bytes or anything after its end."""
    decompressor = lzma.LZMADecompressor(lzma.FORMAT_XZ)
    out = decompressor.decompress(data, max_length=limit + 1)
    if len(out) > limit or not decompressor.eof or decompressor.unused_data:
        raise ValueError("a stream of the BSDIFFXZ patch is damaged or too long")
    return out


def patch(old: bytes, patch: bytes) -> bytes:
    """`new` from `old` and a BSDIFFXZ patch; ValueError for anything that is not a whole one."""
    if len(patch) < HEADER or not patch.startswith(MAGIC):
        raise ValueError("not a BSDIFFXZ patch")
    control_size, diff_size, new_size = (int.from_bytes(patch[at:at + 8], "little") for at in (8, 16, 24))
    diff_at = HEADER + control_size
    extra_at = diff_at + diff_size
    if extra_at > len(patch):
        raise ValueError("a truncated BSDIFFXZ patch")
    try:
        control = _stream(patch[HEADER:diff_at], CONTROL_BYTES_PER_OUTPUT_BYTE * (new_size + 1))
        streams = control, _stream(patch[diff_at:extra_at], new_size), _stream(patch[extra_at:], new_size)
        if len(control) % CONTROL_BYTES_PER_OUTPUT_BYTE:
            raise ValueError("the control stream is not whole triples")
        return bsdiff4.core.patch(old, new_size, *streams)
    except ValueError:
        raise
    except Exception as exc:  # lzma's LZMAError, bsdiff4's SystemError on a damaged control stream
        raise ValueError(f"not a usable BSDIFFXZ patch: {exc}") from None
