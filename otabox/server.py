"""Serving the app with waitress: one process, one access-log line per request, nothing else."""
from __future__ import annotations

import logging
import sys

from .app import create_app
from .config import Config


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    for name in ("otabox", "otabox.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    # waitress warns about its task queue depth under ordinary load; that is not news for an operator.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    logging.getLogger("waitress").setLevel(logging.ERROR)


def serve(config: Config) -> None:
    import waitress

    configure_logging()
    app = create_app(config)
    box = app.config["BOX"]
    logging.getLogger("otabox").info("otabox listening on http://%s:%s (data: %s)", config.host, config.port,
                                     config.data_dir.resolve())
    try:
        waitress.serve(app, host=config.host, port=config.port, threads=config.threads, ident="otabox",
                       channel_timeout=300, max_request_body_size=config.max_bundle_bytes + 2 * 1024 * 1024,
                       _quiet=True)
    finally:
        box.close()
