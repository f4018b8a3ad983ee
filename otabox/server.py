"""Serving the app with waitress: one access-log line per request, nothing else on a healthy server.

`workers > 1` forks that many waitress processes sharing one listening socket; they stay consistent
through the database (see serving.py), so no process needs to know about the others."""
from __future__ import annotations

import errno
import json
import logging
import os
import resource
import shlex
import signal
import socket
import sys
import time
import weakref
from http import HTTPStatus

from . import __version__
from .app import create_app
from .config import Config, ConfigError
from .errors import Busy, OtaboxError, TooLarge
from .ops.accesslog import AccessLogWriter
from .store.files import hold_serving_lock, is_being_served
from .web import carries_bundle


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    logger = logging.getLogger("otabox")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    # waitress warns about its task queue depth under ordinary load; that is not news for an operator.
    # Reaching the connection limit is: every further client waits in the listen queue.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    waitress_log = logging.getLogger("waitress")
    waitress_log.setLevel(logging.WARNING)
    waitress_log.handlers[:] = [handler]
    waitress_log.propagate = False
    waitress_log.filters[:] = [lambda record: record.levelno >= logging.ERROR
                               or record.getMessage().startswith("total open connections")]


class ListenError(OtaboxError):
    code = "cannot_listen"


def _listen(config: Config) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        hint = "; is another server using it? choose another with --port" if exc.errno == errno.EADDRINUSE else ""
        raise ListenError(f"cannot listen on {config.host}:{config.port}: {exc.strerror.lower()}{hint}") from None
    sock.listen(1024)
    return sock


def _stop_gracefully(signum, frame) -> None:
    """SIGTERM (docker stop, systemd) ends waitress's loop like Ctrl-C, so the box is closed and its
    buffered device sightings are written."""
    raise SystemExit(0)


def _prepare(config: Config) -> None:
    """Open the data directory once before serving: create it, or upgrade its database (one process,
    before any worker starts), and tell the operator where everything is."""
    from .box import Box
    from .ops.dbmove import MOVED_NOTE, unmoved_box
    from .ops.maintenance import clear_abandoned_staging
    from .store.db import without_password
    from .store.models import ApiKey

    if (stranded := unmoved_box(config)) is not None:
        raise ConfigError(stranded, code="box_not_moved")
    box = Box(config)
    try:
        with box.db.connection_context():
            has_key = ApiKey.select().exists()
            cleared = 0 if is_being_served(config.data_dir) else clear_abandoned_staging(box)
        upgrade = box.upgrade
    finally:
        box.close()
    log = logging.getLogger("otabox")
    if upgrade:
        log.info("upgraded the database from schema version %d to %d; the previous database is at %s",
                 upgrade.from_version, upgrade.to_version, upgrade.backup or "(back up other engines yourself)")
    log.info("data directory: %s", config.data_dir)
    if cleared:
        log.info("removed %d staged file%s of uploads a previous server did not finish", cleared,
                 "" if cleared == 1 else "s")
    if config.database_url:
        log.info("database: %s", without_password(config.database_url))
    if config.storage_url:
        log.info("bundle files: %s%s", config.storage_url,
                 f" at {config.s3_endpoint_url}" if config.s3_endpoint_url else "")
    if not config.database_url and (config.data_dir / MOVED_NOTE).exists():
        log.warning("%s", (config.data_dir / MOVED_NOTE).read_text().strip().replace("\n", " "))
    if not has_key:
        log.info("no API key yet; create the first one with:  otabox keys create --name admin --role admin "
                 "--data-dir %s%s", shlex.quote(str(config.data_dir)),
                 " (with the same OTABOX_DATABASE_URL and OTABOX_SECRET_KEY)" if config.database_url else "")


SEND_BYTES = 256 * 1024
"""Bytes per socket send (waitress's default is 18 000): downloads are bundles of megabytes, and
fewer, larger reads and sends move them faster."""


def proxy_settings(config: Config) -> dict:
    """Behind a reverse proxy, take the client address (for rate limits and logs), scheme and host
    from its X-Forwarded-* headers, but only from that proxy's address. Without one the headers reach
    the app untouched (nothing reads them but ClientGuard, which warns that a proxy is not trusted)."""
    if not config.trusted_proxy:
        return {"clear_untrusted_proxy_headers": False}
    proxy = config.trusted_proxy
    if ":" in config.host and proxy.count(".") == 3:
        proxy = f"::ffff:{proxy}"  # a dual-stack socket names an IPv4 peer so, and waitress compares strings
    return {"trusted_proxy": proxy, "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
            "clear_untrusted_proxy_headers": True}


MAX_HEADER_BYTES = 32 * 1024
"""Request line and headers together (waitress's default is 256 KiB; nginx's 32 KiB)."""


def _is_transfer(request) -> bool:
    """A bundle upload's body: it may take long while it flows."""
    return request.headers_finished and carries_bundle(request.command, request.path)


def waitress_server(app, sock: socket.socket, config: Config):
    """waitress with connections that cannot starve the update checks.

    - Up to OTABOX_CONNECTION_LIMIT connections (waitress's default is 100), polled (select() stops at
      1024 descriptors).
    - A connection silent for OTABOX_IDLE_TIMEOUT seconds is closed (waitress's channel_timeout).
    - A request must be complete within OTABOX_IDLE_TIMEOUT seconds of its first byte, however
      slowly it trickles (silence alone would never end a client sending one byte every few
      seconds), except a bundle upload's body, which may take as long as its bytes keep coming.
      Downloads already run on the inactivity timeout alone.
    - Only a bundle upload may have a body larger than the JSON limit: any other request announcing
      (or sending, chunked) more is answered 413 at once, before waitress buffers its body to disk;
      and at most OTABOX_MAX_UPLOAD_BODIES bundle bodies are received at once (more: 503 and
      Retry-After), so the disk waitress buffers them on holds at most that many bundles.
    - A response that has no body by definition (204, 304) keeps an HTTP/1.1 connection open:
      waitress closes every connection whose response lacks a Content-Length, which these may not
      carry, so each health report (204) would cost its client a new connection."""
    from waitress.adjustments import Adjustments
    from waitress.channel import HTTPChannel
    from waitress.server import TcpWSGIServer
    from waitress.task import ThreadedTaskDispatcher, WSGITask

    from waitress.parser import HTTPRequestParser
    from waitress.utilities import Error

    deadline = config.idle_timeout
    small_body = config.max_json_kb * 1024
    receiving_bundles: weakref.WeakSet = weakref.WeakSet()

    class Refusal(Error):
        """An OtaboxError answered before the app sees the request (its body unread), in the one error shape."""

        def __init__(self, error: OtaboxError):
            super().__init__(error.message)
            self.error = error
            self.code, self.reason = error.status, HTTPStatus(error.status).phrase

        def to_response(self, ident=None):
            headers = [("Content-Type", "application/json"), *self.error.headers.items()]
            return f"{self.code} {self.reason}", headers, json.dumps(self.error.to_dict()).encode()

    class BoundedRequestParser(HTTPRequestParser):
        def received(self, data):
            consumed = super().received(data)
            if not self.headers_finished or self.completed:
                return consumed
            if not carries_bundle(self.command, self.path):
                if max(self.content_length, self.body_bytes_received) > small_body:
                    self._refuse(TooLarge(f"a body over {small_body} bytes is accepted for bundle uploads only"))
            elif self not in receiving_bundles:
                if sum(1 for other in receiving_bundles if not other.completed) >= config.max_upload_bodies:
                    self._refuse(Busy("too many bundle uploads are arriving at once; retry shortly", retry_after=5))
                else:
                    receiving_bundles.add(self)
            return consumed

        def _refuse(self, error: OtaboxError) -> None:
            self.error, self.completed = Refusal(error), True

    class BodilessKeepAliveTask(WSGITask):
        def set_close_on_finish(self) -> None:
            if self.has_body or self.wrote_header or self.version != "1.1" \
                    or self.request.headers.get("CONNECTION", "").lower() == "close":
                super().set_close_on_finish()

    class DeadlineChannel(HTTPChannel):
        request_started = 0.0
        parser_class = BoundedRequestParser
        task_class = BodilessKeepAliveTask

        def received(self, data):
            if self.request is None and data:
                self.request_started = time.time()
            return super().received(data)

    class DeadlineServer(TcpWSGIServer):
        channel_class = DeadlineChannel

        def maintenance(self, now):
            super().maintenance(now)
            for channel in list(self.active_channels.values()):
                request = channel.request
                if request is not None and now - channel.request_started > deadline and not _is_transfer(request):
                    channel.will_close = True

    adjustments = Adjustments(
        sockets=[sock], threads=config.threads, ident="otabox", connection_limit=config.connection_limit,
        channel_timeout=config.idle_timeout, cleanup_interval=max(1, min(10, config.idle_timeout // 3)),
        asyncore_use_poll=True, max_request_header_size=MAX_HEADER_BYTES,
        max_request_body_size=config.max_bundle_bytes + 2 * 1024 * 1024, send_bytes=SEND_BYTES,
        **proxy_settings(config))
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adjustments.threads)
    return DeadlineServer(app, {}, True, sock, dispatcher=dispatcher, adj=adjustments, bind_socket=False,
                          sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))


def _run_worker(config: Config, sock: socket.socket) -> None:
    access_log = AccessLogWriter(sys.stderr)
    app = create_app(config, access_log=access_log)
    try:
        waitress_server(app, sock, config).run()
    finally:
        access_log.close()
        app.config["BOX"].close()


def raise_open_files_limit(connections: int) -> None:
    """Room for every connection (plus files and the database): the soft limit toward the hard one."""
    log = logging.getLogger("otabox")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            log.warning("the open files limit (%d) is below OTABOX_CONNECTION_LIMIT + 256; raise it "
                        "(ulimit -n, LimitNOFILE=) or lower the connection limit", new)


def warn_about_exposure(config: Config) -> None:
    """Settings an operator should know about before the box faces the internet."""
    log = logging.getLogger("otabox")
    if not config.public_url:
        log.info("OTABOX_PUBLIC_URL is not set: download and upload URLs are built from each request's Host "
                 "header; set it to the public origin (https://ota.example.com) for production")
    if config.trusted_proxy == "*":
        log.warning("OTABOX_TRUSTED_PROXY='*' believes X-Forwarded-For from anyone: any client can pick the "
                    "address its rate limits count; name the proxy's address instead")
    if not config.metrics_token and config.metrics_public:
        log.warning("OTABOX_METRICS_PUBLIC=1: /metrics (request counts and every app's slug) is open to anyone")


def local_url(config: Config) -> str:
    """The URL to open on this machine (a wildcard address is reached through loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(config.host, config.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{config.port}"


def serve(config: Config, workers: int = 1) -> None:
    configure_logging()
    log = logging.getLogger("otabox")
    sock = _listen(config)
    config.port = sock.getsockname()[1]  # the port in use when --port 0 let the system choose
    _prepare(config)
    serving = hold_serving_lock(config.data_dir)  # `migrate-database` refuses to copy a box being served
    raise_open_files_limit(config.connection_limit)
    warn_about_exposure(config)
    url = local_url(config)
    log.info("otabox %s listening on %s (%d worker%s); dashboard: %s/", __version__, url, workers,
             "" if workers == 1 else "s", config.public_url.rstrip("/") or url)
    signal.signal(signal.SIGTERM, _stop_gracefully)
    if workers <= 1:
        _run_worker(config, sock)
        return
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                _run_worker(config, sock)
            finally:
                os._exit(0)
        children.append(pid)

    def stop(signum, _frame):
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        os.waitpid(child, 0)
    serving.close()
