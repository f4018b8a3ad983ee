"""Answering the update checks before Flask builds a request.

Every phone asks for an update on every launch, and Flask's per-request work (request context, URL
matching, response object) cost as much as the check itself. `FastPath` sends the update checks of
the native, CodePush and Capacitor protocols, OFREP's flag evaluations and both health reports
straight to the handlers their Flask routes call (protocols/wire.py: one request shape, one reply
shape, one error renderer per protocol), and passes everything else on to Flask, whose routes stay
the documented definition of each endpoint (and still serve what this path declines: other methods,
undeclared or large bodies)."""
from __future__ import annotations

import logging
from http import HTTPStatus

from .errors import INTERNAL_ERROR, OtaboxError
from .protocols import wire
from .protocols.appdispatch import evaluations as appdispatch_evaluations
from .protocols.appdispatch import health as appdispatch_health
from .protocols.capgo import updates as capacitor
from .protocols.codepush import updates as codepush
from .protocols.native import health as native_health
from .protocols.native import updates as native
from .protocols.openfeature import ofrep
from .store.db import database_failure

log = logging.getLogger("otabox")
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
"""WSGI status lines, made once (HTTPStatus(status) costs a microsecond a request)."""
Route = tuple[wire.Protocol, wire.Handler, dict[str, str]]
"""The protocol, its handler and the path's parameters, as the handler's Flask route would have them."""


def _native_app(path: str, suffix: str) -> str | None:
    """The app of /api/v1/apps/<app>/<suffix> (None: another path)."""
    prefix = "/api/v1/apps/"
    app_id = path[len(prefix):-len(suffix)]
    if path.startswith(prefix) and path.endswith(suffix) and app_id and "/" not in app_id:
        return wire.wsgi_text(app_id)
    return None


def _ofrep_evaluation(path: str) -> dict[str, str] | None:
    """The path parameters of the bulk ({}) or a single-flag evaluation (a key never contains '/');
    None for another path."""
    if path == ofrep.PREFIX:
        return {}
    key = path[len(ofrep.PREFIX) + 1:]
    if not path.startswith(f"{ofrep.PREFIX}/") or "/" in key:
        return None
    return {"flag_key": wire.wsgi_text(key)} if key else {}


def _small_declared_body(environ, limit: int) -> bool:
    length = environ.get("CONTENT_LENGTH", "")
    return length.isdecimal() and 0 < int(length) <= limit


def route(b, environ) -> Route | None:
    """The endpoint this path answers, or None for Flask: other methods, undeclared or large bodies."""
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    if method == "GET":
        if path in codepush.CHECK_PATHS:
            return codepush.PROTOCOL, codepush.answer_update_check, {}
        if (app_id := _native_app(path, "/check")) is not None:
            return wire.JSON_ERRORS, native.answer_check, {"app_id": app_id}
    elif method == "POST":
        json_limit = b.config.max_json_kb * 1024
        if path == "/capgo/updates" and _small_declared_body(environ, json_limit):
            return capacitor.PROTOCOL, capacitor.answer_updates, {}
        if (flag := _ofrep_evaluation(path)) is not None and _small_declared_body(environ, ofrep.MAX_BODY):
            return ofrep.PROTOCOL, ofrep.answer, flag
        if (app_id := _native_app(path, "/health")) is not None and _small_declared_body(environ, json_limit):
            return wire.JSON_ERRORS, native_health.answer_report, {"app_id": app_id}
        if path == appdispatch_health.PATH and _small_declared_body(environ, json_limit):
            return wire.JSON_ERRORS, appdispatch_health.answer_report, {}
        if path == appdispatch_evaluations.PATH and _small_declared_body(environ, json_limit):
            return wire.JSON_ERRORS, appdispatch_evaluations.answer_counts, {}
    return None


ERROR_SHAPES = ((capacitor.PATH_PREFIX, capacitor.PROTOCOL), (codepush.PLAIN_TEXT_PATHS, codepush.PROTOCOL),
                (ofrep.PREFIX, ofrep.PROTOCOL))
"""Path prefixes whose protocol answers errors in its own shape; every other path answers otabox's JSON."""


def client_refusal(path: str, exc: OtaboxError) -> wire.Reply:
    """An error answered before routing (ops.guard), in the shape of the protocol `path` belongs to."""
    protocol = next((protocol for prefixes, protocol in ERROR_SHAPES if path.startswith(prefixes)),
                    wire.JSON_ERRORS)
    return protocol.render_error(exc)


class FastPath:
    def __init__(self, wsgi_app, box):
        self.wsgi_app, self.box = wsgi_app, box

    def __call__(self, environ, start_response):
        found = route(self.box, environ)
        if found is None:
            return self.wsgi_app(environ, start_response)
        protocol, handler, path_args = found
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])) if environ["REQUEST_METHOD"] == "POST" \
            else b""
        request = wire.WireRequest(environ, body, path_args, self.box.config.public_url)
        try:
            reply = protocol.answer(handler, self.box, request)
        except Exception as exc:
            if (failure := database_failure(exc)) is not None:
                log.error("database error on %s %s: %s", request.method, request.path, exc)
                reply = protocol.render_error(failure)
            else:  # a bug: answer as Flask's handler would, and keep the traceback in the log
                log.exception("unexpected error on %s %s", request.method, request.path)
                reply = wire.json_error(INTERNAL_ERROR)
        status, content_type, body, headers = reply
        framing = [("Content-Type", content_type), ("Content-Length", str(len(body)))] if status != 204 else []
        start_response(STATUS_LINES[status], [*framing, *headers.items()])
        return [body]
