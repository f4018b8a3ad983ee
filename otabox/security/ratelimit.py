"""Small in-memory rate limits per key: token buckets for the public client endpoints, failed API
keys and sign-ins, and hourly windows for the management API.

Update checks are cheap, but a misbehaving app build can poll in a loop from thousands of phones;
the public client endpoints answer such a device (or address) 429 with `Retry-After`, which
capacitor-updater honours by pausing every call until then. Failed API-key attempts are limited
per address the same way, so keys cannot be guessed at speed; failed sign-ins meet growing back-offs
per account and per address (`FailureBackoff`), and sign-in attempts a per-address bucket.

`OTABOX_CLIENT_RATE_PER_MINUTE` (default 120, 0 = off) is both the sustained rate and the burst;
`OTABOX_AUTH_FAILURES_PER_MINUTE` (default 20) likewise for failed keys. Device ids are chosen by the
client, so every public client request also counts against its address
(`OTABOX_ADDRESS_RATE_PER_MINUTE`, IPv6 addresses by their /64), and the bytes of client events
stored per device and per address are budgeted per day (`EventBudget`), and so are the device rows
an address creates (`NewDeviceBudget`). The management API counts
requests per token (`OTABOX_API_REQUESTS_PER_HOUR`, 1000) or, unauthenticated, per address
(`OTABOX_ANONYMOUS_REQUESTS_PER_HOUR`, 60) in fixed windows of an hour, and reports them in
`X-RateLimit-*` headers; signing in is outside those windows (it has its own limits), so keyless
requests never lock an address out of the dashboard's sign-in. State is per process: with
`--workers N` a key may get up to N times the rate.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import math
import threading
import time

from ..errors import TooManyRequests

MAX_KEYS = 50_000
"""Above this many tracked keys, idle buckets are forgotten, then the oldest: memory stays bounded
whatever keys a flood invents (a forgotten key starts again with a full bucket)."""


class RateLimited(TooManyRequests):
    def __init__(self, retry_after: int):
        super().__init__(retry_after, code="too_many_requests")


def plain_address(address: str | None) -> str | None:
    """An IPv4 peer of a dual-stack socket (`::ffff:192.0.2.1`) as the IPv4 address it is; any
    other address unchanged. Without it every IPv4 client of `serve --host ::` shared one /64."""
    if address and address[:7].lower() == "::ffff:" and "." in address:
        return address[7:]
    return address


def address_key(address: str | None) -> str:
    """The unit an address limit counts: the address itself, or its /64 for IPv6 (one subscriber
    commonly holds a whole /64, so counting single IPv6 addresses would limit nothing)."""
    if not address or ":" not in address:
        return address or "-"
    try:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    except ValueError:
        return address


def limit_key(kind: str, device_id: str | None, address: str | None) -> str:
    """A client limiter's key: the device, or without one its address's unit (address_key). The two
    are spelt apart, so a device id that looks like an address never drains that address's bucket."""
    return f"{kind}:dev:{device_id}" if device_id else f"{kind}:addr:{address_key(address)}"


def network_key(address: str | None) -> str | None:
    """The client network an address belongs to, for weighing what one network may decide: its /24
    for IPv4 (also IPv4-mapped IPv6), its /48 for IPv6 (a customer is commonly given a /48 or /56,
    so a /64 each would let one customer weigh as hundreds of networks); None without a parsable
    address."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))


class TokenBucketLimiter:
    """`rate` tokens per `period_seconds` (a minute) per key, holding at most `capacity` tokens (by
    default one period's worth)."""

    def __init__(self, rate: float, clock=time.monotonic, max_keys: int = MAX_KEYS, period_seconds: float = 60.0,
                 capacity: float | None = None):
        self.capacity = float(rate if capacity is None else capacity)
        self.per_second = rate / period_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def wait_time(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` tokens for `key`: 0 when allowed, else the seconds until they are available."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.per_second)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                self._forget_idle(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            self._forget_idle(now)
            return (cost - tokens) / self.per_second

    def take(self, key: str, cost: float = 1.0) -> None:
        """Take `cost` tokens or raise RateLimited with the whole seconds to wait (at least 1)."""
        wait = self.wait_time(key, cost)
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
        kept = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
        if len(kept) > self.max_keys // 2:
            kept = dict(list(kept.items())[-(self.max_keys // 2):])
        self._buckets = kept


class FailureBackoff:
    """Failed attempts per key (an account, an address), answered with short waits that grow: the
    first `free - 1` failures in a row cost nothing, the `free`-th makes the key wait `first_wait`
    seconds, and each further one doubles the wait up to `max_wait`. A success, or `forget_after`
    seconds without a failure, starts the key afresh.

    For sign-ins: a person who mistypes waits a second or two, a password guesser minutes per try,
    and nobody an hour (an office behind one address is not locked out by one careless script)."""

    def __init__(self, free: int, max_wait: float = 300.0, first_wait: float = 1.0, forget_after: float = 900.0,
                 clock=time.monotonic, max_keys: int = MAX_KEYS):
        self.free, self.max_wait, self.first_wait, self.forget_after = free, max_wait, first_wait, forget_after
        self.clock, self.max_keys = clock, max_keys
        self._failures: dict[str, tuple[int, float]] = {}
        """key -> (failures in a row, when the last one was)"""
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.free > 0

    def _wait(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.max_wait, self.first_wait * 2 ** min(failures - self.free, 32))

    def retry_after(self, key: str) -> int:
        """Whole seconds `key` must still wait before its next attempt (0: it may try now)."""
        if not self.enabled:
            return 0
        now = self.clock()
        with self._lock:
            failures, last = self._failures.get(key, (0, now))
        if now - last >= self.forget_after:
            return 0
        remaining = last + self._wait(failures) - now
        return max(1, math.ceil(remaining)) if remaining > 0 else 0

    def failed(self, key: str) -> None:
        if not self.enabled:
            return
        now = self.clock()
        with self._lock:
            failures, last = self._failures.get(key, (0, now))
            self._failures[key] = (1 if now - last >= self.forget_after else failures + 1, now)
            if len(self._failures) > self.max_keys:
                self._failures = {k: v for k, v in self._failures.items() if now - v[1] < self.forget_after}

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


@dataclasses.dataclass(frozen=True)
class Quota:
    """Where a key stands in its window, as the X-RateLimit-* headers tell it."""

    limit: int
    remaining: int
    reset: int
    """Unix seconds at which the window ends and the count starts again."""
    retry_after: int = 0
    """Seconds to wait when the request was over the limit (0: it was allowed)."""

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(self.reset)}


class WindowLimiter:
    """At most `limit` requests per key in a window of `window_seconds` that the key's first request
    opens (0 = no limit). Unlike a bucket, it can say how many are left and when the count resets."""

    def __init__(self, limit: int, window_seconds: int = 3600, clock=time.time, max_keys: int = MAX_KEYS):
        self.limit, self.window, self.clock, self.max_keys = limit, window_seconds, clock, max_keys
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def take(self, key: str) -> Quota:
        """Count one request of `key`; the quota says whether it was allowed (`retry_after` 0)."""
        now = self.clock()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            allowed = count < self.limit
            if allowed:
                count += 1
                self._windows[key] = (start, count)
            if len(self._windows) > self.max_keys:
                self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.window}
        reset = math.ceil(start + self.window)
        retry_after = 0 if allowed else max(1, math.ceil(start + self.window - now))
        return Quota(self.limit, self.limit - count, reset, retry_after)


def daily_bucket(per_day: int) -> TokenBucketLimiter:
    """A bucket holding a day's worth (`per_day`, 0 = no limit), refilled evenly over the day."""
    return TokenBucketLimiter(per_day / (24 * 60), capacity=per_day)


class NewDeviceBudget:
    """Device rows an address may have created per day (`OTABOX_NEW_DEVICES_PER_ADDRESS_PER_DAY`).

    A device past it is still answered and simply not recorded (its next check, once the address's
    day has room, records it): a refusal would make capacitor-updater pause every call, and a row
    is only statistics. Counted in `dropped` (/metrics)."""

    def __init__(self, per_address: int):
        self.addresses = daily_bucket(per_address)
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return self.addresses.enabled

    def admit(self, address: str | None) -> bool:
        if self.addresses.wait_time(address_key(address)) > 0:
            self.dropped += 1
            return False
        return True

    def take(self, address: str | None) -> None:
        """For a request whose whole point is the new row (a device choosing its channel): past the
        budget it is refused, RateLimited with the seconds until the address's day has room."""
        self.addresses.take(address_key(address))


class EventBudget:
    """Bytes of client events a device, and an address, may have stored per day.

    Events past either budget are dropped, not refused: a refusal makes capacitor-updater pause
    every call (update checks too) for the Retry-After, and a stored event is only statistics."""

    def __init__(self, bytes_per_device: int, bytes_per_address: int):
        self.devices = daily_bucket(bytes_per_device)
        self.addresses = daily_bucket(bytes_per_address)
        self.dropped = 0

    def admit(self, device_id: str, address: str | None, size: int) -> bool:
        """Whether an event of `size` bytes may be stored (its bytes are counted when it may)."""
        if self.devices.wait_time(device_id, size) > 0 or self.addresses.wait_time(address_key(address), size) > 0:
            self.dropped += 1
            return False
        return True
