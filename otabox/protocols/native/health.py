"""Health reports from otabox's own clients: `POST /api/v1/apps/:appId/health` (the app's X-Client-Key)
with `{deviceId, channel?, platform, runtimeVersion?, bundleId? | bundleVersion?, events: [{type, name?,
message?, count, flagStates?}]}`; the release is the one through which the device got that bundle.

It answers 204 at once: the events only update memory (core/health.py writes them in batches)."""
from __future__ import annotations

from flask import Blueprint, Response

from ...core import health
from ...errors import BadRequest
from ...store.models import row_id
from ...web import box, json_body, limit_client
from .updates import client_app, release_for

bp = Blueprint("native_health", __name__)


def accepted() -> Response:
    return Response(status=204)


def reportable_flag_states(view) -> dict[str, frozenset[str]]:
    """The flag states the app's reports may carry (core/health.py), kept as long as its serving view."""
    found = view.memo.get("reportable_flag_states")
    if found is None:
        found = view.memo["reportable_flag_states"] = health.reportable_flag_states(box().flags.flag_set(view))
    return found


def parsed_report(data, view) -> health.HealthReport:
    """The validated report, with only the app's flag states; a bad one is limited by address, so
    floods of them are limited too."""
    try:
        return health.parse_report(data, reportable_flag_states(view) if view is not None else {})
    except BadRequest:
        limit_client("health", None)
        raise


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
    matches = sorted((b for b in view.bundles.values() if b.version == version and b.serves_platform(platform)),
                     key=lambda b: b.platform == "all")
    return matches[0].id if matches else None


@bp.post("/api/v1/apps/<app_id>/health")
def report(app_id):
    view = client_app(app_id)
    data = json_body()
    found = parsed_report(data, view)
    limit_client("health", found.device_id)
    release_id, _ = release_for(view, found.device_id, _bundle_id(view, data, found.platform), found.channel)
    box().health.record(view.id, release_id, found)
    return accepted()
