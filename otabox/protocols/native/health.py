"""Health reports from otabox's own clients: `POST /api/v1/apps/:appId/health` (the app's X-Client-Key)
with `{deviceId, channel?, platform, runtimeVersion?, bundleId? | bundleVersion?, events: [{type, name?,
message?, count, flagStates?}]}`; the release is the one through which the device got that bundle.

It answers 204 at once: the request validates the report and buffers it (core/health.py writes in
batches). `answer_report` is the whole request, for the Flask route and for fastpath.FastPath."""
from __future__ import annotations

from flask import Blueprint, Response, request

from ...core import health
from ...errors import BadRequest, OtaboxError
from ...store.models import row_id
from ...web import box, json_bytes, json_from
from .updates import client_app, release_for

bp = Blueprint("native_health", __name__)


def reportable_flag_states(b, view) -> dict[str, frozenset[str]]:
    """The flag states the app's reports may carry (core/health.py), kept as long as its serving view."""
    found = view.memo.get("reportable_flag_states")
    if found is None:
        found = view.memo["reportable_flag_states"] = health.reportable_flag_states(b.flags.flag_set(view))
    return found


def _refused(b, address: str | None, call, *args):
    """`call(*args)`; a BadRequest also takes from the address's health limit, so floods of bad
    reports are limited too."""
    try:
        return call(*args)
    except BadRequest:
        b.client_limiter.take(f"health:{address}")
        raise


def decoded_body(b, raw: bytes, address: str | None) -> dict:
    return _refused(b, address, json_from, raw)


def parsed_report(b, data: dict, view, address: str | None) -> health.HealthReport:
    """The validated report, with only the app's flag states, limited per device."""
    found = _refused(b, address, health.parse_report, data, reportable_flag_states(b, view))
    b.client_limiter.take(f"health:{found.device_id}")
    return found


def _bundle_id(view, data: dict, platform: str) -> int | None:
    """The bundle the device runs, named by id or by version (None: the binary's own)."""
    if data.get("bundleId") is not None:
        number = row_id(data["bundleId"]) if isinstance(data["bundleId"], int) else None
        if number is None:
            raise BadRequest("bundleId must be an integer", details={"field": "bundleId"})
        return number if number in view.bundles else None
    version = data.get("bundleVersion")
    if version is None or version == "builtin":
        return None
    if not isinstance(version, str) or len(version) > 200:
        raise BadRequest("bundleVersion must be a string of at most 200 characters",
                         details={"field": "bundleVersion"})
    return view.bundle_for_version(version, platform)


def answer_report(b, app_id: str, raw: bytes, client_key: str, address: str | None) -> None:
    """Validate and buffer one report (raises OtaboxError)."""
    view = client_app(app_id, client_key, b)
    data = decoded_body(b, raw, address)
    found = parsed_report(b, data, view, address)
    release_id, _ = release_for(view, found.device_id, _bundle_id(view, data, found.platform), found.channel)
    b.health.record(view.id, release_id, found)


def fast_report(b, environ) -> tuple[int, str, bytes, dict]:
    """The report for fastpath.FastPath (which checked that a small body is declared)."""
    app_id = environ["PATH_INFO"][len("/api/v1/apps/"):-len("/health")]
    raw = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
    try:
        answer_report(b, app_id.encode("latin-1").decode("utf-8", "replace"), raw,  # WSGI paths are latin-1
                      environ.get("HTTP_X_CLIENT_KEY", ""), environ.get("REMOTE_ADDR"))
    except OtaboxError as exc:
        return exc.status, "application/json", json_bytes(exc.to_dict()), exc.headers
    return 204, "", b"", {}


@bp.post("/api/v1/apps/<app_id>/health")
def report(app_id):
    answer_report(box(), app_id, request.get_data(), request.headers.get("X-Client-Key", ""), request.remote_addr)
    return Response(status=204)
