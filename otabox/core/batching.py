"""Writing what clients report in batches: the request only updates memory, a background thread
writes everything gathered since its last round; deleting many rows in short transactions; and
`FailureLog`, how every background loop (these threads, and ops/leased.py's) tells about rounds that
fail."""
from __future__ import annotations

import logging
import threading
import time

from ..store.db import database_failure, failure_summary
from ..store.models import database

log = logging.getLogger("otabox")


class FailureLog:
    """What a background loop logs when its rounds fail, so that an outage costs two lines, not a
    traceback a second: the first failure of a kind (with its traceback, except for a database that
    does not answer, which is expected and told in one line), nothing while the same kind repeats,
    and one line with the count when a round succeeds again ("database reachable again after 12 s")."""

    def __init__(self, name: str):
        self.name = name
        self._kind: str | None = None
        self._since = 0.0
        self._rounds = 0

    def failed(self, exc: Exception) -> None:
        unreachable = database_failure(exc) is not None
        kind = "database" if unreachable else type(exc).__name__
        if kind == self._kind:
            self._rounds += 1
            return
        self._kind, self._since, self._rounds = kind, time.monotonic(), 1
        if unreachable:
            log.warning("%s: the database does not answer (%s); trying again every round, quiet until it does",
                        self.name, failure_summary(exc))
            log.debug("%s: the database failure", self.name, exc_info=exc)
        else:
            log.error("%s failed; trying again every round, quiet until it works", self.name, exc_info=exc)

    def succeeded(self) -> None:
        if self._kind is None:
            return
        what = "database reachable again" if self._kind == "database" else f"working again ({self._kind} before)"
        log.warning("%s: %s after %.0f s (%d failed round%s)", self.name, what, time.monotonic() - self._since,
                    self._rounds, "" if self._rounds == 1 else "s")
        self._kind = None


class BatchWriter:
    """A buffer in memory that a background thread writes every `interval` seconds.

    Subclasses fill the buffer under `self._lock` and implement `_take` (swap the buffer for an empty
    one; None when there is nothing), `_store` (write a batch; returns how many items it wrote) and
    `_restore` (merge a batch the database refused back into the buffer, for the next round). A buffer
    that bounds itself counts what it did not keep in `dropped` (shown by /metrics)."""

    thread_name = "otabox-flush"

    def __init__(self, interval: float):
        self.interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushes = 0
        self.dropped = 0
        self.failures = FailureLog(self.thread_name)

    def _take(self):
        raise NotImplementedError

    def _store(self, batch) -> int:
        raise NotImplementedError

    def _restore(self, batch) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception as exc:  # a failed flush is retried with the next batch; never kill the thread
                self.failures.failed(exc)

    def flush(self) -> int:
        with self._lock:
            batch = self._take()
        if batch is None:
            return 0
        try:
            with database.connection_context():
                written = self._store(batch)
        except Exception:
            # The database could not take the batch now (locked, disk full): keep it for the next flush.
            with self._lock:
                self._restore(batch)
            raise
        self.flushes += 1
        self.failures.succeeded()
        return written


def delete_in_batches(model, condition, size: int = 500) -> int:
    """Delete `model`'s rows matching `condition`, `size` rows per transaction, so a large purge never
    holds the write lock for long; returns how many went."""
    deleted = 0
    while True:
        with database.atomic():
            ids = [row_id for (row_id,) in model.select(model.id).where(condition).limit(size).tuples()]
            if ids:
                model.delete().where(model.id.in_(ids)).execute()
        deleted += len(ids)
        if len(ids) < size:
            return deleted
