"""A background thread that writes what a request path buffered in memory, one batch per interval.

Request paths that must not write (update checks, flag evaluations) count and remember in memory;
a subclass's `flush` writes the batch, and this base runs it every `interval` seconds and once more
at `stop`. A failed flush is logged and retried with the next batch; it never ends the thread."""
from __future__ import annotations

import logging
import threading


class PeriodicFlush:
    thread_name = "otabox-flush"

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.log = logging.getLogger(f"otabox.{self.thread_name}")

    def flush(self) -> int:
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
                self.log.exception("%s failed", self.thread_name)
