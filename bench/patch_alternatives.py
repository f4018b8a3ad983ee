"""Other ways to make a pair's patch, measured beside the patch maker's bsdiff (bench/patches.py).

BSDIFF40 (what expo-updates' bspatch applies, so the only form an Expo 226 can carry), each checked
by applying it with Debian's `bspatch` when installed (otherwise bsdiff4):

- `bsdiff4`: the patch maker's producer (bsdiff4's matches, libbz2 at level 9);
- `split`: the same three streams, bzip2 blocks cut where they encode smallest (bench/bzip2_blocks.py);
- `hdiffz`: HDiffPatch's `hdiffz -BSD -m-0` (its own match selection, libbz2), when `hdiffz` is on
  PATH (built from its sources: there is no package of it, and the `hdiffpatch` Python binding
  writes only HDiffPatch's own format);
- `hdiffz+split`, and `hdiffz+7z`: hdiffz's streams re-encoded by the splitter, or by 7-Zip's
  bzip2 encoder (`7z a -tbzip2 -mx=9 -mpass=10`, p7zip-full) when `7z` is on PATH.

Not BSDIFF40:

- `xz`: BSDIFFXZ (otabox.core.xzdiff, the per-file patch of the native protocol's `otabox-patch-v1`
  archive): bsdiff4's three streams, each compressed by the standard library's lzma instead of bzip2.

Run in a process of its own (`python bench/patch_alternatives.py OLD NEW` prints JSON): Linux keeps
a process's peak RSS across fork and exec, so the large buffers here would otherwise show up in the
peak RSS that bench/patches.py measures for the patch maker in the next child.
"""
from __future__ import annotations

import bz2
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bsdiff4
import bsdiff4.core

import bzip2_blocks

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from otabox.core import xzdiff  # noqa: E402

MAGIC = b"BSDIFF40"
BSDIFF_METHODS = ["bsdiff4", "split", "hdiffz", "hdiffz+split", "hdiffz+7z"]
METHODS = BSDIFF_METHODS + ["xz"]


def _bsdiff40(streams: tuple[bytes, bytes, bytes], new_size: int, compress) -> bytes:
    control, diff, extra = (compress(stream) for stream in streams)
    return b"".join([MAGIC, bsdiff4.core.encode_int64(len(control)), bsdiff4.core.encode_int64(len(diff)),
                     bsdiff4.core.encode_int64(new_size), control, diff, extra])


def _streams(patch: bytes) -> tuple[bytes, bytes, bytes]:
    lengths = [bsdiff4.core.decode_int64(patch[offset:offset + 8]) for offset in (8, 16)]
    control_end = 32 + lengths[0]
    return (bz2.decompress(patch[32:control_end]), bz2.decompress(patch[control_end:control_end + lengths[1]]),
            bz2.decompress(patch[control_end + lengths[1]:]))


def _seven_zip(data: bytes) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "stream"
        source.write_bytes(data)
        subprocess.run(["7z", "a", "-tbzip2", "-mx=9", "-mpass=10", "-mmt=1", f"{source}.bz2", str(source)],
                       check=True, capture_output=True)
        return Path(f"{source}.bz2").read_bytes()


def _hdiffz(old: Path, new: Path) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "patch"
        subprocess.run(["hdiffz", "-f", "-BSD", "-m-0", str(old), str(new), str(out)], check=True, capture_output=True)
        return out.read_bytes()


def _checked(old: Path, new_bytes: bytes, patch: bytes) -> None:
    """Raise unless `patch` rebuilds the new file: with Debian's bspatch when installed."""
    if shutil.which("bspatch") is None:
        rebuilt = bsdiff4.patch(old.read_bytes(), patch)
    else:
        with tempfile.TemporaryDirectory() as folder:
            patch_path, out = Path(folder) / "patch", Path(folder) / "new"
            patch_path.write_bytes(patch)
            subprocess.run(["bspatch", str(old), str(out), str(patch_path)], check=True, capture_output=True)
            rebuilt = out.read_bytes()
    if rebuilt != new_bytes:
        raise AssertionError("a patch did not rebuild its target")


def _cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def measure(old: Path, new: Path) -> dict[str, tuple[int, float] | None]:
    """{method: (patch size, CPU seconds) or None when its tool is missing}."""
    new_bytes = new.read_bytes()
    results: dict[str, tuple[int, float] | None] = {}
    started = _cpu()
    streams = bsdiff4.core.diff(old.read_bytes(), new_bytes)
    diffed = _cpu() - started

    def timed(method: str, make, extra_seconds: float = 0.0, bsdiff: bool = True) -> bytes:
        started = _cpu()
        patch = make()
        results[method] = (len(patch), extra_seconds + _cpu() - started)
        if bsdiff:
            _checked(old, new_bytes, patch)
        return patch

    timed("bsdiff4", lambda: _bsdiff40(streams, len(new_bytes), bz2.compress), diffed)
    timed("split", lambda: _bsdiff40(streams, len(new_bytes), bzip2_blocks.compress), diffed)
    if shutil.which("hdiffz"):
        hdiff = timed("hdiffz", lambda: _hdiffz(old, new))
        hdiff_seconds = results["hdiffz"][1]
        timed("hdiffz+split", lambda: _bsdiff40(_streams(hdiff), len(new_bytes), bzip2_blocks.compress), hdiff_seconds)
        if shutil.which("7z"):
            timed("hdiffz+7z", lambda: _bsdiff40(_streams(hdiff), len(new_bytes), _seven_zip), hdiff_seconds)
    xz = timed("xz", lambda: xzdiff.pack(len(new_bytes), *streams), diffed, bsdiff=False)
    if xzdiff.patch(old.read_bytes(), xz) != new_bytes:
        raise AssertionError("the xz patch did not rebuild its target")
    return {method: results.get(method) for method in METHODS}


def measure_apart(old: Path, new: Path) -> dict[str, tuple[int, float] | None]:
    """`measure` in a fresh process."""
    done = subprocess.run([sys.executable, __file__, str(old), str(new)], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout)


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]), Path(sys.argv[2]))))
