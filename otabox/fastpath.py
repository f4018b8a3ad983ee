"""Answering the update checks before Flask builds a request.

Every phone asks for an update on every launch, and Flask's per-request work (request context, URL
matching, response object) cost as much as the check itself. `FastPath` sends the update checks of
the native, CodePush and Capacitor protocols, OFREP's flag evaluations and both health reports
straight to the same functions their Flask routes call, and passes everything else on to Flask,
whose routes stay the documented, tested definition of each endpoint (and still serve what this path
declines: other methods, undeclared or large bodies)."""
from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Callable
from urllib.parse import parse_qsl

from .errors import INTERNAL_ERROR, OtaboxError
from .protocols.appdispatch import health as appdispatch_health
from .protocols.capgo import updates as capacitor
from .protocols.codepush import updates as codepush
from .protocols.native import health as native_health
from .protocols.native import updates as native
from .protocols.openfeature import ofrep
from .store.db import database_failure
from .web import json_bytes

log = logging.getLogger("otabox")
Answer = Callable[..., tuple[int, str, bytes, dict]]
"""(box, environ) -> (status, content type, body, extra headers)."""


def query_args(environ) -> dict:
    """Like Flask's request.args: the first value of each key wins."""
    return dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)[::-1])


def _native_check(b, environ):
    return native.fast_check(b, environ, query_args(environ))


def _codepush_check(b, environ):
    return codepush.fast_update_check(b, environ, query_args(environ))


def _is_native_path(path: str, suffix: str) -> bool:
    """/api/v1/apps/<app>/<suffix>."""
    prefix = "/api/v1/apps/"
    app_id = path[len(prefix):-len(suffix)]
    return path.startswith(prefix) and path.endswith(suffix) and bool(app_id) and "/" not in app_id


def _is_ofrep_evaluation(path: str) -> bool:
    """The bulk or a single-flag evaluation (a key never contains '/')."""
    return path.startswith(ofrep.PREFIX) and (len(path) == len(ofrep.PREFIX) or (
        path[len(ofrep.PREFIX)] == "/" and "/" not in path[len(ofrep.PREFIX) + 1:]))


def _small_declared_body(environ, limit: int) -> bool:
    length = environ.get("CONTENT_LENGTH", "")
    return length.isdecimal() and 0 < int(length) <= limit


def route(b, environ) -> Answer | None:
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    if method == "GET":
        if path in codepush.CHECK_PATHS:
            return _codepush_check
        if _is_native_path(path, "/check"):
            return _native_check
    elif method == "POST":
        if path == "/capgo/updates" and _small_declared_body(environ, b.config.max_json_kb * 1024):
            return capacitor.fast_updates
        if _is_ofrep_evaluation(path) and _small_declared_body(environ, ofrep.MAX_BODY):
            return ofrep.fast_evaluate
        if _is_native_path(path, "/health") and _small_declared_body(environ, b.config.max_json_kb * 1024):
            return native_health.fast_report
        if path == appdispatch_health.PATH and _small_declared_body(environ, b.config.max_json_kb * 1024):
            return appdispatch_health.fast_report
    return None


def client_refusal(path: str, exc: OtaboxError) -> tuple[int, str, bytes, dict]:
    """An error answered before routing (ops.guard), in the shape of the protocol `path` belongs to."""
    if path.startswith("/capgo/"):
        status, body, headers = capacitor.error_reply(exc)
        return status, "application/json", json_bytes(body), headers
    if path.startswith(codepush.PLAIN_TEXT_PATHS):
        return exc.status, "text/plain; charset=utf-8", exc.message.encode(), exc.headers
    if path.startswith(ofrep.PREFIX):
        return exc.status, ofrep.JSON, json_bytes(ofrep.OfrepError(exc.status, "GENERAL", exc.message).body(None)), \
            exc.headers
    return exc.status, "application/json", json_bytes(exc.to_dict()), exc.headers


class FastPath:
    def __init__(self, wsgi_app, box):
        self.wsgi_app, self.box = wsgi_app, box

    def __call__(self, environ, start_response):
        answer = route(self.box, environ)
        if answer is None:
            return self.wsgi_app(environ, start_response)
        try:
            status, content_type, body, headers = answer(self.box, environ)
        except Exception as exc:
            if (failure := database_failure(exc)) is not None:
                log.error("database error on %s %s: %s", environ["REQUEST_METHOD"], environ.get("PATH_INFO"), exc)
                status, content_type, body, headers = client_refusal(environ.get("PATH_INFO", ""), failure)
            else:  # a bug: answer as Flask's handler would, and keep the traceback in the log
                log.exception("unexpected error on %s %s", environ["REQUEST_METHOD"], environ.get("PATH_INFO"))
                status, content_type, headers = 500, "application/json", {}
                body = json_bytes(INTERNAL_ERROR.to_dict())
        framing = [("Content-Type", content_type), ("Content-Length", str(len(body)))] if status != 204 else []
        start_response(f"{status} {HTTPStatus(status).phrase}", [*framing, *headers.items()])
        return [body]
