"""Telling every otabox process on a data directory that the serving state changed, cheaply.

The database's `generation` counter is the authority: every mutation that changes what a device may
get bumps it inside its own transaction (`bump_generation`). Reading it on every update check costs
a query that releases the GIL, which under load made up a large part of a check's cost. So after
each change is committed its new value is also published to an 8-byte file that every process on
the data directory maps into memory (`GenerationSignal`); a check reads those 8 bytes, and the
database only when they move and at least once a second (in case a writer died between its commit
and its publish).

A change to one device's pin or self-assigned channel does not move the generation (that would make
every process rebuild the whole app view, which a public self-assignment flood could force at will):
it takes the next device-change number instead (`bump_device_change`), stamped on the device's row
and published beside the generation, and each process re-reads just the devices past the last number
it applied."""
from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
from pathlib import Path

from .db import announce_changes
from .models import State

_changed = threading.local()
GENERATION, DEVICE_CHANGES = "generation", "device_changes"


def bump_generation() -> None:
    """Inside the transaction of any change to apps, channels, bundles, releases or flags (its one
    caller is core/change.py's `changing`)."""
    State.update(value=State.value + 1).where(State.key == "generation").execute()
    announce_changes(State._meta.database)
    _changed.pending = True


def bump_device_change() -> int:
    """Inside the transaction of a change to one device's overrides (core/change.py's `changing`);
    returns the number to stamp on its row (`Device.override_seq`)."""
    (State.insert(key=DEVICE_CHANGES, value=1)
     .on_conflict(conflict_target=[State.key], update={State.value: State.value + 1}).execute())
    announce_changes(State._meta.database)
    _changed.pending = True
    return State.get(State.key == DEVICE_CHANGES).value


def current_generation() -> int:
    """The authoritative value (a raw query: the query builder costs ~15x the query itself)."""
    return current_state()[0]


def current_state() -> tuple[int, int]:
    """(generation, device-change number), authoritative, in one query."""
    db = State._meta.database
    rows = dict(db.execute_sql(f"SELECT key, value FROM state WHERE key IN ({db.param}, {db.param})",
                               (GENERATION, DEVICE_CHANGES)).fetchall())
    return rows.get(GENERATION, 0), rows.get(DEVICE_CHANGES, 0)


class GenerationSignal:
    """The newest committed generation and device-change number, in a small file shared (mmap) by the
    processes of one host."""

    SIZE = 16

    def __init__(self, path: Path):
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < self.SIZE:
            os.ftruncate(self._fd, self.SIZE)
        self._map = mmap.mmap(self._fd, self.SIZE)

    def read(self) -> int:
        return struct.unpack_from("<Q", self._map)[0]

    def read_state(self) -> tuple[int, int]:
        return struct.unpack_from("<QQ", self._map)

    def publish(self, generation: int, device_changes: int = 0) -> None:
        """Raise the shared values (never lower them: publishers may finish out of order)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            shared = self.read_state()
            if generation > shared[0] or device_changes > shared[1]:
                struct.pack_into("<QQ", self._map, 0, max(generation, shared[0]), max(device_changes, shared[1]))
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if not self._map.closed:
            self._map.close()
            os.close(self._fd)


def publish_pending(signal: GenerationSignal | None) -> None:
    """Publish this thread's committed changes, if it made any. Call after its transactions ended."""
    if getattr(_changed, "pending", False):
        _changed.pending = False
        if signal is not None:
            signal.publish(*current_state())


class GenerationPublisher:
    """WSGI middleware: publishes a request's changes before its response leaves, so the client that
    made a change finds it in the very next check, whichever process answers."""

    def __init__(self, app, signal: GenerationSignal | None):
        self.app, self.signal = app, signal

    def __call__(self, environ, start_response):
        def publishing_start_response(status, headers, exc_info=None):
            publish_pending(self.signal)
            return start_response(status, headers, exc_info)

        return self.app(environ, publishing_start_response)
