"""A small in-memory token bucket per key, for the public client endpoints and failed API keys.

Update checks are cheap, but a misbehaving app build can poll in a loop from thousands of phones;
the public client endpoints answer such a device (or address) 429 with `Retry-After`, which
capacitor-updater honours by pausing every call until then. Failed API-key attempts are limited
per address the same way, so keys cannot be guessed at speed.

`OTABOX_CLIENT_RATE_PER_MINUTE` (default 120, 0 = off) is both the sustained rate and the burst;
`OTABOX_AUTH_FAILURES_PER_MINUTE` (default 20) likewise for failed keys. State is per process: with
`--workers N` a key may get up to N times the rate.
"""
from __future__ import annotations

import math
import threading
import time

from ..errors import TooManyRequests

MAX_KEYS = 100_000
"""Above this many tracked keys, the full (idle) buckets are forgotten; memory stays bounded."""


class RateLimited(TooManyRequests):
    def __init__(self, retry_after: int):
        super().__init__(retry_after, code="too_many_requests")


class TokenBucketLimiter:
    """`rate_per_minute` tokens per minute per key, holding at most `rate_per_minute` tokens."""

    def __init__(self, rate_per_minute: int, clock=time.monotonic, max_keys: int = MAX_KEYS):
        self.capacity = float(rate_per_minute)
        self.per_second = rate_per_minute / 60.0
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def wait_time(self, key: str) -> float:
        """Take one token for `key`: 0 when allowed, else the seconds until a token is available."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                self._forget_idle(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.per_second

    def take(self, key: str) -> None:
        """Take a token or raise RateLimited with the whole seconds to wait (at least 1)."""
        wait = self.wait_time(key)
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)))

    def check(self, key: str) -> None:
        """Raise RateLimited while `key` has no token left, without taking one."""
        if not self.enabled:
            return
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.per_second)
        if tokens < 1.0:
            raise RateLimited(max(1, math.ceil((1.0 - tokens) / self.per_second)))

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) <= self.max_keys:
            return
        refill = self.capacity / self.per_second
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
