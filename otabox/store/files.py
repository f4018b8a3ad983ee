"""Durable small files: secrets written atomically with mode 0600, directory fsync, and the mark of a
running server on its data dir."""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def secure_write(path: Path, data: bytes) -> None:
    """Write a secret file atomically with mode 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


SERVING_LOCK = "serving.lock"
"""A file in the data dir that a running `otabox serve` holds a shared lock on."""


def hold_serving_lock(data_dir: Path):
    """Mark the data dir as served until the returned file is closed (or the process ends); its
    --workers children share the mark."""
    handle = open(Path(data_dir) / SERVING_LOCK, "a")
    fcntl.flock(handle, fcntl.LOCK_SH)
    return handle


def is_being_served(data_dir: Path) -> bool:
    """Whether an `otabox serve` on this machine is running on the data dir."""
    try:
        handle = open(Path(data_dir) / SERVING_LOCK)
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
