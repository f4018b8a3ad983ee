"""A background loop that runs its work only in the one process holding its lease.

Every otabox process (several `--workers`, or several hosts on one database) starts the same loops;
each round, a loop takes or renews its lease (store.leases) and works only when it holds it. A
holder that is killed stops renewing, and another process takes over once the lease expires; one
that stops cleanly gives the lease up at once. The policy scheduler and webhook delivery run so;
any other once-per-box job (the janitor) can too."""
from __future__ import annotations

import logging
import threading
import time

from ..core.batching import FailureLog
from ..store import leases
from ..store.db import failure_summary

log = logging.getLogger("otabox")


class LeasedLoop:
    def __init__(self, db, name: str, interval: float, work, ttl: float | None = None):
        """`work()` runs every `interval` seconds while this process holds lease `name`, inside a
        database connection; `ttl` (default: three intervals, at least 5 s) is how long a dead
        holder keeps others waiting. A `ttl` shorter than three intervals makes the loop wake more
        often than it works, to renew the lease in time."""
        self.db, self.name, self.interval, self.work = db, name, interval, work
        self.ttl = ttl if ttl is not None else max(3 * interval, 5.0)
        self.round_seconds = min(interval, self.ttl / 3)
        self.holder = leases.new_holder()
        self.holding = False
        self._renew_at = 0.0
        self._work_at = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = FailureLog(name)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"otabox-{self.name}", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Run the next round, and its work, now rather than at the end of the interval."""
        self._work_at = 0.0
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        if self.holding:
            try:
                with self.db.connection_context():
                    leases.release(self.name, self.holder)
            except Exception as exc:  # the lease then simply expires
                log.warning("could not give up the %s lease (%s); it expires within %.0f s", self.name,
                            failure_summary(exc), self.ttl)
            self.holding = False

    def run_once(self) -> bool:
        """One round: take or renew the lease and, if held and the interval is over, do the work.
        True when this process holds the lease."""
        with self.db.connection_context():
            if not self.holding or time.monotonic() >= self._renew_at:
                self.holding = leases.acquire(self.name, self.holder, self.ttl)
                self._renew_at = time.monotonic() + self.ttl / 3
            started = time.monotonic()
            if self.holding and started >= self._work_at:
                self._work_at = started + self.interval
                self.work()
        return self.holding

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # retried next round; never kill the thread
                self.failures.failed(exc)
                self.holding = False  # the lease may lapse meanwhile: work again only after taking it again
            else:
                self.failures.succeeded()
            self._wake.wait(self.round_seconds)
            self._wake.clear()
