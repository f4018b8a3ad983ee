"""Requests the server itself makes (webhooks) reach only public addresses, unless configured.

A URL is checked by resolving its host and refusing it when any address it resolves to is in
REFUSED_NETWORKS (loopback, private, link-local with the cloud metadata at 169.254.169.254, shared,
multicast, reserved, documentation, and every IPv6 prefix that carries an IPv4 address a gateway
would unwrap: IPv4-mapped and -compatible, NAT64, 6to4, Teredo) or is otherwise not globally
routable. The check is done again at every delivery, and the connection goes to the very address
that was checked (the Host header and the TLS name stay the URL's), so a name that resolves
differently the second time (DNS rebinding) cannot lead the request elsewhere. Redirects are never
followed (http.client does not follow them). One attempt, from the connection to the last byte of
the answer, ends at a wall-clock deadline, however slowly the receiver trickles its answer."""
from __future__ import annotations

import contextlib
import dataclasses
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import unicodedata
import urllib.parse

SCHEMES = ("http", "https")
MAX_URL = 2000


class EgressRefused(ValueError):
    """The URL is not one the server may call; the message says why."""


@dataclasses.dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str
    """The checked IP address the connection goes to."""
    family: int
    sockaddr: tuple


def parse_url(url) -> urllib.parse.SplitResult:
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL:
        raise EgressRefused(f"the URL must be a string of 1 to {MAX_URL} characters")
    if any(char.isspace() or unicodedata.category(char)[0] == "C" for char in url):
        raise EgressRefused("the URL contains whitespace or control characters")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise EgressRefused("only http and https URLs are allowed")
    if not parts.hostname:
        raise EgressRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("credentials in the URL are not allowed; the signature authenticates otabox")
    try:
        parts.port
    except ValueError:
        raise EgressRefused("the URL's port is not a number from 0 to 65535") from None
    return parts


REFUSED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(network), reason) for network, reason in (
        ("0.0.0.0/8", "an unspecified (\"this network\") address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address (cloud metadata lives there)"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol assignment"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a 6to4 relay address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("::ffff:0:0/96", "an IPv4-mapped IPv6 address"),
        ("::/96", "an IPv4-compatible IPv6 address"),
        ("64:ff9b::/96", "a NAT64 address (it reaches an IPv4 address through a gateway)"),
        ("64:ff9b:1::/48", "a local NAT64 address (it reaches an IPv4 address through a gateway)"),
        ("100::/64", "a discard-only address"),
        ("2001::/32", "a Teredo address (it tunnels to an IPv4 address)"),
        ("2001:db8::/32", "a documentation address"),
        ("2002::/16", "a 6to4 address (it tunnels to an IPv4 address)"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    ))
"""Every range a webhook may not reach, with the reason the refusal gives (first match wins)."""


def refused_reason(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    for network, reason in REFUSED_NETWORKS:
        if ip.version == network.version and ip in network:
            return reason
    if not ip.is_global:
        return "an address that is not publicly routable"
    return None


def resolve(url: str, allow_private: bool = False) -> Target:
    """Check `url` and pick the address to connect to; EgressRefused when it may not be called."""
    parts = parse_url(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EgressRefused(f"cannot resolve {parts.hostname!r}: {exc}") from None
    if not infos:
        raise EgressRefused(f"{parts.hostname!r} resolves to no address")
    if not allow_private:
        for info in infos:
            reason = refused_reason(info[4][0])
            if reason:
                raise EgressRefused(f"{parts.hostname!r} resolves to {info[4][0]}, {reason}; set "
                                    "OTABOX_WEBHOOK_ALLOW_PRIVATE=1 to allow such targets")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    family, _, _, _, sockaddr = infos[0]
    return Target(parts.scheme, parts.hostname, port, path, sockaddr[0], family, sockaddr)


class _Deadline:
    """The end of one attempt, from before the connection to the last byte of the answer. A socket
    timeout alone bounds each read, and a receiver that trickles a byte a second renews it forever;
    so when the time is up a timer shuts the socket down, which ends whatever read is waiting."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._ends_at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.passed = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.001, self._ends_at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Cut `sock` when the time is up (at once if it is up already)."""
        with self._lock:
            self._sock = sock
        if self.passed:
            self._cut()

    def _cut(self) -> None:
        with self._lock:
            self.passed = True
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    # socket.socket's own shutdown, also for an SSLSocket: it only shuts the
                    # descriptor down and leaves the TLS state to the reading thread.
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def stop(self) -> None:
        """Before the socket is closed: the timer must never touch a descriptor reused elsewhere."""
        self._timer.cancel()
        with self._lock:
            self._sock = None


def _connect(target: Target, deadline: _Deadline) -> socket.socket:
    """A socket to the checked address itself (no second name lookup)."""
    sock = socket.socket(target.family, socket.SOCK_STREAM)
    try:
        sock.settimeout(deadline.remaining())
        deadline.watch(sock)
        sock.connect(target.sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, deadline: _Deadline):
        super().__init__(target.host, target.port, timeout=deadline.seconds)
        self._target, self._deadline = target, deadline

    def connect(self):
        self.sock = _connect(self._target, self._deadline)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, deadline: _Deadline):
        super().__init__(target.host, target.port, timeout=deadline.seconds, context=ssl.create_default_context())
        self._target, self._deadline = target, deadline

    def connect(self):
        self.sock = self._context.wrap_socket(_connect(self._target, self._deadline), server_hostname=self.host,
                                              do_handshake_on_connect=False)
        self._deadline.watch(self.sock)
        self.sock.do_handshake()


@dataclasses.dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: float
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict, timeout: float, allow_private: bool) -> Outcome:
    """POST `body` to `url` (checked again here), without following redirects; never raises. The
    whole attempt (connecting, sending, the answer's status, headers and first 64 KiB) ends after
    `timeout` seconds of wall-clock time."""
    started = time.monotonic()

    def outcome(status: int | None, error: str) -> Outcome:
        return Outcome(status, round((time.monotonic() - started) * 1000, 1), error[:1000])

    try:
        target = resolve(url, allow_private)
    except EgressRefused as exc:
        return outcome(None, f"refused: {exc}")
    deadline = _Deadline(timeout)
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = cls(target, deadline)
    failure = ""
    try:
        connection.request("POST", target.path, body=body, headers={"Content-Length": str(len(body)), **headers})
        response = connection.getresponse()
        response.read(64 * 1024)
    except (OSError, http.client.HTTPException) as exc:
        failure = f"{type(exc).__name__}: {exc}"
    finally:
        deadline.stop()
        connection.close()
    if deadline.passed:  # a cut read may also end quietly, with a short body
        return outcome(None, f"no complete answer within {timeout:g} s")
    if failure:
        return outcome(None, failure)
    status = response.status
    if 300 <= status < 400:
        return outcome(status, f"redirect to {response.getheader('Location', '?')[:200]} not followed")
    return outcome(status, "" if 200 <= status < 300 else f"HTTP {status}")
