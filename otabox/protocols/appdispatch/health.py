"""AppDispatch's health reports: `POST /v1/ota/health-metrics` (public, as AppDispatch's own server has
it) takes otabox's native health body (native/health.py) with `projectSlug` (the app's slug) and
`updateUuid` (an Expo update id otabox served), which is what `@appdispatch/react-native`'s health
reporter sends. Its `channel` defaults to "default" there, so a channel the app does not have is
ignored. It answers 204 at once."""
from __future__ import annotations

from flask import Blueprint

from ...errors import BadRequest, NotFound
from ...web import box, json_body, limit_client
from ..expo.updates import known_updates
from ..native.health import accepted, parsed_report
from ..native.updates import release_for

bp = Blueprint("appdispatch_health", __name__)


@bp.post("/v1/ota/health-metrics")
def appdispatch_report():
    data = json_body()
    slug = data.get("projectSlug") if isinstance(data, dict) else None
    view = box().serving.app(slug) if isinstance(slug, str) and 0 < len(slug) <= 200 else None
    found = parsed_report(data, view)
    update_id = data.get("updateUuid")
    if not isinstance(slug, str) or not 0 < len(slug) <= 200:
        raise BadRequest("projectSlug is required", details={"field": "projectSlug"})
    if update_id is not None and (not isinstance(update_id, str) or len(update_id) > 200):
        raise BadRequest("updateUuid must be a string or null", details={"field": "updateUuid"})
    limit_client("health", found.device_id)
    if view is None:
        raise NotFound(f"no app {slug!r}", code="app_not_found")
    update = known_updates(view).get(update_id.lower()) if update_id else None
    release_id = None
    if update is not None:
        release_id = update.release.id if update.release is not None else \
            release_for(view, found.device_id, update.bundle.id, found.channel)[0]
    box().health.record(view.id, release_id, found)
    return accepted()
