"""Health reports from apps: otabox's own endpoint and AppDispatch's.

- `POST /api/v1/apps/:appId/health` (the app's X-Client-Key): `{deviceId, channel?, platform,
  runtimeVersion?, bundleId? | bundleVersion?, events: [{type, name?, message?, count, flagStates?}]}`;
  the release is the one through which the device got that bundle.
- `POST /v1/ota/health-metrics` (public, as AppDispatch's own server has it): the same body with
  `projectSlug` (the app's slug) and `updateUuid` (an Expo update id otabox served) instead, which
  is what `@appdispatch/react-native`'s health reporter sends. Its `channel` defaults to "default"
  there, so a channel the app does not have is ignored.

Both answer 204 at once: the events only update memory (core/health.py writes them in batches)."""
from __future__ import annotations

from flask import Blueprint, Response

from ..core import health
from ..errors import BadRequest, NotFound
from ..store.models import row_id
from ..web import box, json_body, limit_client
from .expo import known_updates
from .native import client_app, release_for

bp = Blueprint("health", __name__)


def _accepted() -> Response:
    return Response(status=204)


def _parsed(data) -> health.HealthReport:
    """The validated report; a bad one is limited by address, so floods of them are limited too."""
    try:
        return health.parse_report(data)
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
    found = _parsed(data)
    limit_client("health", found.device_id)
    release_id, _ = release_for(view, found.device_id, _bundle_id(view, data, found.platform), found.channel)
    box().health.record(view.id, release_id, found)
    return _accepted()


@bp.post("/v1/ota/health-metrics")
def appdispatch_report():
    data = json_body()
    found = _parsed(data)
    slug, update_id = data.get("projectSlug"), data.get("updateUuid")
    if not isinstance(slug, str) or not 0 < len(slug) <= 200:
        raise BadRequest("projectSlug is required", details={"field": "projectSlug"})
    if update_id is not None and (not isinstance(update_id, str) or len(update_id) > 200):
        raise BadRequest("updateUuid must be a string or null", details={"field": "updateUuid"})
    limit_client("health", found.device_id)
    view = box().serving.app(slug)
    if view is None:
        raise NotFound(f"no app {slug!r}", code="app_not_found")
    update = known_updates(view).get(update_id.lower()) if update_id else None
    release_id = None
    if update is not None:
        release_id = update.release.id if update.release is not None else \
            release_for(view, found.device_id, update.bundle.id, found.channel)[0]
    box().health.record(view.id, release_id, found)
    return _accepted()
