"""One request shape and one reply shape for the device endpoints of every client protocol.

A device endpoint is one function, `handler(box, WireRequest) -> Reply`, which raises its protocol's
errors. Its Flask route calls it through `Protocol.flask`; fastpath.FastPath, which answers the
busiest endpoints before Flask builds a request, calls the same function through `Protocol.answer`.
Both turn an error into bytes with the protocol's one `render_error`, so a device gets the same
bytes whichever way its request went, and so do the refusals the guard answers before routing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple
from urllib.parse import parse_qsl

from flask import Response, request

from ..errors import OtaboxError
from ..web import box, json_bytes, request_origin

JSON = "application/json"


class Reply(NamedTuple):
    """What a device endpoint answers. A tuple, so that ops.guard can send it without knowing protocols."""

    status: int
    content_type: str
    body: bytes
    headers: dict

    def flask_response(self) -> Response:
        return Response(self.body, self.status, self.headers, content_type=self.content_type or None)


def json_reply(data, status: int = 200, headers: dict | None = None) -> Reply:
    """Compact JSON, as update checks are answered."""
    return Reply(status, JSON, json_bytes(data), headers or {})


NO_CONTENT = Reply(204, "", b"", {})


def query_args(query_string: str) -> dict[str, str]:
    """Like Flask's request.args: the first value of each key wins."""
    return dict(parse_qsl(query_string, keep_blank_values=True)[::-1])


def wsgi_text(raw: str) -> str:
    """A path (or a part of one) as Flask decodes it: WSGI gives paths as latin-1."""
    return raw.encode("latin-1").decode("utf-8", "replace")


class Headers:
    """A request's headers by name, in any case (`get` only). Werkzeug's EnvironHeaders reads the same
    environ, at several times the cost per lookup, which the fast path pays on every check."""

    __slots__ = ("_environ",)

    def __init__(self, environ):
        self._environ = environ

    def get(self, name: str, default: str | None = None) -> str | None:
        key = _ENVIRON_KEYS.get(name)
        if key is None:
            key = _ENVIRON_KEYS[name] = "HTTP_" + name.upper().replace("-", "_")
        return self._environ.get(key, default)


_ENVIRON_KEYS: dict[str, str] = {}
"""Header name -> WSGI environ key ("X-Client-Key" -> "HTTP_X_CLIENT_KEY"), for the few names handlers read."""


class WireRequest:
    """What a device endpoint reads: method, path (decoded), first query values, headers (any case),
    body bytes, the client's address, the path's parameters, and the origin generated URLs start with.
    The path, query and origin are worked out when read (most handlers read few of them)."""

    __slots__ = ("method", "headers", "body", "client_address", "path_args", "_query", "_environ", "_public_url")

    def __init__(self, environ, body: bytes, path_args: dict[str, str], public_url: str):
        self.method = environ["REQUEST_METHOD"]
        self.headers = Headers(environ)
        self.body = body
        self.client_address: str | None = environ.get("REMOTE_ADDR")
        self.path_args = path_args
        self._query: dict[str, str] | None = None
        self._environ, self._public_url = environ, public_url

    @property
    def path(self) -> str:
        return wsgi_text(self._environ.get("PATH_INFO", ""))

    @property
    def query(self) -> dict[str, str]:
        if self._query is None:
            self._query = query_args(self._environ.get("QUERY_STRING", ""))
        return self._query

    @property
    def origin(self) -> str:
        return request_origin(self._environ, self._public_url)


Handler = Callable[..., Reply]
"""(box, WireRequest) -> Reply; raises the protocol's errors."""


@dataclass(frozen=True)
class Protocol:
    """How one client protocol answers errors: `render_error` for each of `errors` (and, on the fast
    path, for the 503 of a database that failed under the request)."""

    render_error: Callable[[Exception], Reply]
    errors: tuple[type[Exception], ...] = (OtaboxError,)

    def answer(self, handler: Handler, b, wire: WireRequest) -> Reply:
        try:
            return handler(b, wire)
        except self.errors as exc:
            return self.render_error(exc)

    def flask(self, handler: Handler) -> Response:
        """The Flask route's answer: the same handler, on the request Flask parsed."""
        b = box()
        wire = WireRequest(request.environ, request.get_data(), request.view_args or {}, b.config.public_url)
        return self.answer(handler, b, wire).flask_response()


def json_error(exc: OtaboxError) -> Reply:
    """otabox's error family: `{"error": {code, message, details}}`."""
    return json_reply(exc.to_dict(), exc.status, exc.headers)


JSON_ERRORS = Protocol(json_error)
"""The protocols whose errors are otabox's own JSON (native, Koolbase, Expo, AppDispatch)."""
