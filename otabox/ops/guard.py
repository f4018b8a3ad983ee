"""The first thing every request meets: the Host allow-list, and the per-address limit and body sizes
of the public client endpoints.

Device ids are invented by the client, so a limit per device alone stops a buggy app, not a flood:
every public client request also takes a token from its address's bucket
(`OTABOX_ADDRESS_RATE_PER_MINUTE`). The check happens before any parsing, so a flood costs a dict
lookup per request. Refusals keep each protocol's error shape (the composition root says how)."""
from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Callable
from urllib.parse import urlsplit

from ..errors import BadRequest, OtaboxError, TooLarge
from ..security.ratelimit import TokenBucketLimiter, address_key, plain_address

log = logging.getLogger("otabox")
Refusal = Callable[[str, OtaboxError], tuple[int, str, bytes, dict]]
"""(path, error) -> (status, content type, body, extra headers) in the shape of that path's protocol."""

CLIENT_PREFIXES = ("/capgo/", "/updateCheck", "/reportStatus/", "/v0.1/public/codepush/", "/expo/", "/v1/sdk/",
                   "/v1/ota/", "/ofrep/")
NATIVE_CLIENT_SUFFIXES = ("/check", "/events", "/health")
DEVICE_BODY_PREFIXES = ("/capgo/", "/updateCheck", "/reportStatus/", "/v0.1/public/codepush/", "/v1/sdk/",
                        "/ofrep/", "/v1/ota/flag-evaluations")
"""Client paths whose bodies are a device's check, status report, channel request or evaluation, or
the evaluation counts of AppDispatch's provider (at most 500 entries of a flag key, a variant and a
count: some 50 KB at most). AppDispatch's management API under /v1/ota/ keeps the server's JSON limit."""
EVENT_BATCH_PATHS = ("/capgo/stats",)
EVENT_BATCH_FACTOR = 16
"""Event batches may be this many times a check's body (1 MB by default): 100 events, whose messages
(a stack trace runs to several kilobytes; the first 1 000 characters are kept) a client should not
lose for being long."""
HEALTH_REPORT_PATHS = ("/v1/ota/health-metrics",)
HEALTH_REPORT_FACTOR = 8
"""Health reports may be this many times a check's body (512 KB by default). A report holds at most
500 events (core/health.py), and its clients send few: `@appdispatch/react-native`'s reporter sends
each distinct event once with a `count` (the seed's example is 400 bytes), otabox's own clients
likewise. 512 KB is 500 events of 1 KB each (a message of the 500 characters kept, a name, a count
and a few flag states), or 60 distinct stack traces of 8 000 characters (the longest message read).
It was the 2 MB JSON limit: a report of 150 000 made-up keys cost a second of parsing."""
BYTES_PER_TOKEN = 4096
"""A device body takes one token of its address's bucket per 4 KB begun (a check takes one): parsing
costs by the byte, so an address sending large bodies runs out of its minute in a few dozen of them
(a 512 KB report takes 128 of the default 3 000), not in thousands. A body refused with 413 is
charged by its declared length too: the server has buffered it all the same."""
UNCHECKED_HOST_PATHS = ("/healthz",)
"""Probes (load balancers, orchestrators) ask by address, whatever the public name."""
NO_STORE = ("Cache-Control", "no-store")
"""Replies to devices are for that device, now: no cache or proxy may keep or replay them."""


def _no_store(start_response):
    def no_store_start_response(status, headers, exc_info=None):
        headers = [h for h in headers if h[0].lower() != "cache-control"] + [NO_STORE]
        return start_response(status, headers, exc_info)
    return no_store_start_response


def is_client_path(path: str) -> bool:
    """The public endpoints apps call (update checks, events, channel self-assignment)."""
    if path.startswith(CLIENT_PREFIXES):
        return True
    return path.startswith("/api/v1/apps/") and path.endswith(NATIVE_CLIENT_SUFFIXES) and path.count("/") == 5


def device_body_limit(path: str, device_bytes: int) -> int | None:
    """The largest body a device path takes (None: not a device's body, AppDispatch's management API
    under /v1/ota/): what its clients send, so that a body of 150 000 made-up keys is refused before
    it is parsed."""
    if path in EVENT_BATCH_PATHS or (path.startswith("/api/v1/apps/") and path.endswith("/events")):
        return device_bytes * EVENT_BATCH_FACTOR
    if path in HEALTH_REPORT_PATHS or (path.startswith("/api/v1/apps/") and path.endswith("/health")):
        return device_bytes * HEALTH_REPORT_FACTOR
    if path.startswith(DEVICE_BODY_PREFIXES) or path.endswith("/check"):
        return device_bytes
    return None


def _declared_length(environ) -> int:
    length = environ.get("CONTENT_LENGTH") or "0"
    return int(length) if length.isdecimal() else 0


def allowed_hosts(public_url: str, extra: str) -> frozenset[str] | None:
    """Host names (lowercase, without port) accepted when OTABOX_PUBLIC_URL is set: its own, those in
    OTABOX_ALLOWED_HOSTS and loopback. None when it is not set (every Host is accepted, and generated
    URLs follow it)."""
    if not public_url:
        return None
    names = {urlsplit(public_url).hostname or ""} | {name.strip().lower() for name in extra.split(",") if name.strip()}
    return frozenset(name.lower() for name in names if name) | {"localhost", "127.0.0.1", "::1"}


def host_name(host: str) -> str:
    """'Example.com:8443' -> 'example.com'; '[::1]:80' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _carries_nul(environ) -> bool:
    """Whether a client request's path, query or headers hold U+0000, which no client sends and
    PostgreSQL cannot store (a device id with it would wedge the buffered sightings)."""
    return ("%00" in environ.get("QUERY_STRING", "") or "\x00" in environ.get("PATH_INFO", "")
            or any("\x00" in value for name, value in environ.items()
                   if name.startswith("HTTP_") and isinstance(value, str)))


class ClientGuard:
    """WSGI middleware: refuses a Host outside the allow-list (400), limits the public client
    endpoints per address (429 with Retry-After) and in body size (413), and marks their replies `Cache-Control: no-store`."""

    def __init__(self, app, limiter: TokenBucketLimiter, refusal: Refusal, hosts: frozenset[str] | None,
                 trusted_proxy: str, device_body_bytes: int):
        self.app, self.limiter, self.refusal, self.hosts = app, limiter, refusal, hosts
        self.device_body_bytes = device_body_bytes
        self._warn_forwarded = not trusted_proxy

    def __call__(self, environ, start_response):
        if "REMOTE_ADDR" in environ:  # every later reader sees an IPv4 peer of a dual-stack socket as IPv4
            environ["REMOTE_ADDR"] = plain_address(environ["REMOTE_ADDR"])
        path = environ.get("PATH_INFO", "")
        client = is_client_path(path)
        try:
            if self.hosts is not None and path not in UNCHECKED_HOST_PATHS:
                self._check_host(environ)
            if client:
                if _carries_nul(environ):
                    raise BadRequest("the request contains a NUL character", code="nul_character")
                if self._warn_forwarded and "HTTP_X_FORWARDED_FOR" in environ:
                    self._warn_forwarded = False
                    log.warning("requests arrive with X-Forwarded-For but OTABOX_TRUSTED_PROXY is not set: every "
                                "client behind the proxy shares its address for rate limits; set "
                                "OTABOX_TRUSTED_PROXY to the proxy's address")
                limit = device_body_limit(path, self.device_body_bytes)
                length = _declared_length(environ)
                self.limiter.take(address_key(environ.get("REMOTE_ADDR")), self._cost(length if limit else 0))
                if limit is not None and length > limit:
                    raise TooLarge(f"a body over {limit // 1024} KB is more than this endpoint's clients send",
                                   details={"limit_bytes": limit})
        except OtaboxError as exc:
            status, content_type, body, headers = self.refusal(path, exc)
            start_response(f"{status} {HTTPStatus(status).phrase}", [
                ("Content-Type", content_type), ("Content-Length", str(len(body))), *headers.items(), NO_STORE])
            return [body]
        return self.app(environ, _no_store(start_response) if client else start_response)

    def _cost(self, body_bytes: int) -> float:
        """Tokens a device body of `body_bytes` takes (BYTES_PER_TOKEN), never more than the bucket
        holds, so that the largest body allowed still gets through an address's full minute."""
        return min(max(1, -(-body_bytes // BYTES_PER_TOKEN)), max(1.0, self.limiter.capacity))

    def _check_host(self, environ) -> None:
        host = environ.get("HTTP_HOST")
        if host is not None and host_name(host) not in self.hosts:
            raise BadRequest("the Host header names a server this otabox does not serve; set OTABOX_PUBLIC_URL "
                             "or add the name to OTABOX_ALLOWED_HOSTS", code="invalid_host",
                             details={"host": host[:200]})
