"""Telling every otabox process on a data directory that the serving state changed, cheaply.

The database's `generation` counter is the authority: every mutation that changes what a device may
get bumps it inside its own transaction (`bump_generation`). Reading it on every update check costs
a query that releases the GIL, which under load made up a large part of a check's cost. So after
each change is committed its new value is also published to an 8-byte file that every process on
the data directory maps into memory (`GenerationSignal`); a check reads those 8 bytes, and the
database only when they move and at least once a second (in case a writer died between its commit
and its publish)."""
from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
from pathlib import Path

from .db import announce_generation
from .models import State

_changed = threading.local()


def bump_generation() -> None:
    """Call inside the transaction of any change to apps, channels, bundles, releases or overrides."""
    State.update(value=State.value + 1).where(State.key == "generation").execute()
    announce_generation(State._meta.database)
    _changed.pending = True


def current_generation() -> int:
    """The authoritative value (a raw query: the query builder costs ~15x the query itself)."""
    db = State._meta.database
    row = db.execute_sql(f"SELECT value FROM state WHERE key = {db.param}", ("generation",)).fetchone()
    return row[0] if row else 0


class GenerationSignal:
    """The newest committed generation, in a small file shared (mmap) by the processes of one host."""

    SIZE = 8

    def __init__(self, path: Path):
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < self.SIZE:
            os.ftruncate(self._fd, self.SIZE)
        self._map = mmap.mmap(self._fd, self.SIZE)

    def read(self) -> int:
        return struct.unpack_from("<Q", self._map)[0]

    def publish(self, generation: int) -> None:
        """Raise the shared value to `generation` (never lower it: publishers may finish out of order)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if generation > self.read():
                struct.pack_into("<Q", self._map, 0, generation)
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
            signal.publish(current_generation())


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
