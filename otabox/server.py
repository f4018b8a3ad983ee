"""Serving the app with waitress: one access-log line per request, nothing else on a healthy server.

`workers > 1` forks that many waitress processes sharing one listening socket; they stay consistent
through the database (see serving.py), so no process needs to know about the others."""
from __future__ import annotations

import errno
import logging
import os
import shlex
import signal
import socket
import sys

from . import __version__
from .app import create_app
from .config import Config
from .errors import OtaboxError
from .ops.accesslog import AccessLogWriter


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    logger = logging.getLogger("otabox")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    # waitress warns about its task queue depth under ordinary load; that is not news for an operator.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    logging.getLogger("waitress").setLevel(logging.ERROR)


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
    from .store.models import ApiKey

    box = Box(config)
    try:
        with box.db.connection_context():
            has_key = ApiKey.select().exists()
        upgrade = box.upgrade
    finally:
        box.close()
    log = logging.getLogger("otabox")
    if upgrade:
        log.info("upgraded the database from schema version %d to %d; the previous database is at %s",
                 upgrade.from_version, upgrade.to_version, upgrade.backup or "(back up other engines yourself)")
    log.info("data directory: %s", config.data_dir)
    if not has_key:
        log.info("no API key yet; create the first one with:  otabox keys create --name admin --role admin "
                 "--data-dir %s", shlex.quote(str(config.data_dir)))


SEND_BYTES = 256 * 1024
"""Bytes per socket send (waitress's default is 18 000): downloads are bundles of megabytes, and
fewer, larger reads and sends move them faster."""


def proxy_settings(config: Config) -> dict:
    """Behind a reverse proxy, take the client address (for rate limits and logs), scheme and host
    from its X-Forwarded-* headers, but only from that proxy's address."""
    if not config.trusted_proxy:
        return {}
    return {"trusted_proxy": config.trusted_proxy, "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
            "clear_untrusted_proxy_headers": True}


def _run_worker(config: Config, sock: socket.socket) -> None:
    import waitress

    access_log = AccessLogWriter(sys.stderr)
    app = create_app(config, access_log=access_log)
    try:
        waitress.serve(app, sockets=[sock], threads=config.threads, ident="otabox", channel_timeout=300,
                       max_request_body_size=config.max_bundle_bytes + 2 * 1024 * 1024, _quiet=True,
                       send_bytes=SEND_BYTES,
                       **proxy_settings(config))
    finally:
        access_log.close()
        app.config["BOX"].close()


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
