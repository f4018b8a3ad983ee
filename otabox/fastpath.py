"""Answering the hottest client endpoints before Flask builds a request.

Every phone asks for an update on every launch, and Flask's per-request work (request context, URL
matching, response object) cost as much as the check itself. `FastPath` sends the update-check GETs
straight to the same functions their Flask routes call, and passes everything else (other methods,
other paths) on to Flask, whose routes stay the documented, tested definition of each endpoint."""
from __future__ import annotations

from http import HTTPStatus
from typing import Callable
from urllib.parse import parse_qsl

from .protocols import codepush, native

Answer = Callable[..., tuple[int, str, bytes, dict]]
"""(box, environ, query args) -> (status, content type, body, extra headers)."""


def _native_route(path: str) -> Answer | None:
    prefix, suffix = "/api/v1/apps/", "/check"
    app_id = path[len(prefix):-len(suffix)]
    if path.startswith(prefix) and path.endswith(suffix) and app_id and "/" not in app_id:
        return native.fast_check
    return None


def route(path: str) -> Answer | None:
    if path in codepush.CHECK_PATHS:
        return codepush.fast_update_check
    return _native_route(path)


class FastPath:
    def __init__(self, wsgi_app, box):
        self.wsgi_app, self.box = wsgi_app, box

    def __call__(self, environ, start_response):
        answer = route(environ.get("PATH_INFO", "")) if environ["REQUEST_METHOD"] == "GET" else None
        if answer is None:
            return self.wsgi_app(environ, start_response)
        # Like Flask's request.args: the first value of each key wins.
        args = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)[::-1])
        status, content_type, body, headers = answer(self.box, environ, args)
        start_response(f"{status} {HTTPStatus(status).phrase}",
                       [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers.items()])
        return [body]
