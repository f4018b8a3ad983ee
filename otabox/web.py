"""Helpers every HTTP handler shares: the Box, JSON bodies, auth, paging, and absolute URLs."""
from __future__ import annotations

import json
from urllib.parse import quote

from flask import current_app, g, request
from werkzeug.wsgi import get_host

from .core.apps import find_app
from .errors import BadRequest, Unauthorized
from .security import auth
from .store.models import ApiKey, App


def box():
    return current_app.config["BOX"]


def json_body(kind=dict):
    """The request's JSON body, which must be of `kind` (dict, or (dict, list))."""
    if not request.data:
        raise BadRequest("a JSON body is required")
    try:
        data = request.get_json(force=True, silent=False)
    except Exception:
        raise BadRequest("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, kind):
        raise BadRequest("the JSON body has the wrong type", code="invalid_json")
    return data


def optional_json_body() -> dict:
    return json_body() if request.data else {}


def api_key(role: str = "reader") -> ApiKey:
    """Authenticate the bearer key once per request and check its role.

    Failed attempts are counted per address; past the limit the address gets 429 for a while, so
    keys cannot be guessed at speed (and a valid key from that address waits too)."""
    key = g.get("api_key")
    if key is None:
        failures = box().auth_failure_limiter
        address = request.remote_addr or "-"
        failures.check(address)
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        try:
            key = g.api_key = auth.authenticate(token)
        except Unauthorized:
            if token:
                failures.wait_time(address)
            raise
    auth.require_role(key, role)
    return key


def limit_client(kind: str, device_id: str | None) -> None:
    """Public client endpoints: at most the configured rate per device (or address), else 429."""
    box().client_limiter.take(f"{kind}:{device_id or request.remote_addr}")


def event_admission():
    """`admit(device_id, size)` for core.devices.store_events: the box's daily event budget, counted
    for this request's device and address."""
    budget, address = box().event_budget, request.remote_addr
    return lambda device_id, size: budget.admit(device_id, address, size)


def actor() -> str:
    return g.api_key.name


def app_for(app_id: str, role: str = "reader") -> App:
    key = api_key(role)
    app = find_app(app_id)
    auth.require_app(key, app)
    return app


def int_arg(name: str, default: int, low: int = 0, high: int = 1000) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdecimal() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}", details={"field": name})
    return int(raw)


def request_origin(environ, public_url: str) -> str:
    """The origin generated URLs start with: OTABOX_PUBLIC_URL, else the request's own."""
    return public_url.rstrip("/") if public_url else f"{environ['wsgi.url_scheme']}://{get_host(environ)}"


def base_url() -> str:
    return request_origin(request.environ, box().config.public_url)


def json_bytes(data) -> bytes:
    """Compact JSON, as replies to update checks are sent (with or without Flask)."""
    return json.dumps(data, separators=(",", ":")).encode()


def json_response(data, status: int = 200):
    """A JSON response without the provider's generality (update checks answer thousands of these)."""
    return current_app.response_class(json_bytes(data), status=status, mimetype="application/json")


def signed_download_url(sha256: str, kind: str = "zip", b=None, base: str | None = None) -> tuple[str, int]:
    """An absolute, expiring, HMAC-signed URL for a blob (the download endpoint checks it). Every query
    value is percent-encoded: a content type such as image/svg+xml would otherwise arrive as a space."""
    b = b or box()
    query, expires = b.secrets.url_signer.reusable_query("download", f"{sha256}:{kind}", b.config.url_ttl)
    return f"{base or base_url()}/dl/{sha256}?type={quote(kind, safe='')}&{query}", expires
