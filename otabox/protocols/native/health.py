"""Health reports from otabox's own clients: `POST /api/v1/apps/:appId/health` (the app's X-Client-Key)
with `{deviceId, channel?, platform, runtimeVersion?, bundleId? | bundleVersion?, events: [{type, name?,
message?, count, flagStates?}]}`; the release is the one through which the device got that bundle.

It answers 204 at once: the request validates the report and buffers it (core/health.py writes in
batches). `answer_report` is the whole request, for the Flask route and for fastpath.FastPath."""
from __future__ import annotations

from flask import Blueprint

from ...core import health
from ...errors import BadRequest
from ...security.ratelimit import limit_key
from ...store.models import row_id
from ...web import json_from
from ..wire import JSON_ERRORS, NO_CONTENT, Reply, WireRequest
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
        b.client_limiter.take(limit_key("health", None, address))
        raise


def decoded_body(b, wire: WireRequest) -> dict:
    return _refused(b, wire.client_address, json_from, wire.body)


def parsed_report(b, data: dict, view, address: str | None, unnamed: str | None = None) -> health.HealthReport:
    """The validated report, with only the app's flag states, limited per device (`unnamed`: see
    health.parse_report)."""
    found = _refused(b, address, health.parse_report, data, reportable_flag_states(b, view), unnamed)
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


def answer_report(b, wire: WireRequest) -> Reply:
    """Validate and buffer one report (raises OtaboxError)."""
    view = client_app(b, wire.path_args["app_id"], wire.headers.get("X-Client-Key", ""))
    data = decoded_body(b, wire)
    found = parsed_report(b, data, view, wire.client_address)
    release_id, _ = release_for(view, found.device_id, _bundle_id(view, data, found.platform), found.channel)
    b.health.record(view.id, release_id, found, wire.client_address)
    b.events.record(view.id, release_id, found, wire.client_address)
    return NO_CONTENT


@bp.post("/api/v1/apps/<app_id>/health")
def report(app_id):
    return JSON_ERRORS.flask(answer_report)
