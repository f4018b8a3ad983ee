"""Writing what clients report in batches: the request only updates memory, a background thread
writes everything gathered since its last round; and deleting many rows in short transactions."""
from __future__ import annotations

import logging
import threading

from ..store.models import database

log = logging.getLogger("otabox")


class BatchWriter:
    """A buffer in memory that a background thread writes every `interval` seconds.

    Subclasses fill the buffer under `self._lock` and implement `_take` (swap the buffer for an empty
    one; None when there is nothing), `_store` (write a batch; returns how many items it wrote) and
    `_restore` (merge a batch the database refused back into the buffer, for the next round)."""

    thread_name = "otabox-flush"

    def __init__(self, interval: float):
        self.interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushes = 0

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
            except Exception:  # a failed flush is retried with the next batch; never kill the thread
                log.exception("%s failed", self.thread_name)

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
