"""AppDispatch's health reports: `POST /v1/ota/health-metrics` (public, as AppDispatch's own server has
it) takes otabox's native health body (native/health.py) with `projectSlug` (the app's slug) and
`updateUuid` (an Expo update id otabox served), which is what `@appdispatch/react-native`'s health
reporter sends. Its `channel` defaults to "default" there, so a channel the app does not have is
ignored. It answers 204 at once; `answer_report` is the whole request, for the Flask route and for
fastpath.FastPath."""
from __future__ import annotations

from flask import Blueprint

from ...errors import BadRequest, NotFound
from ..wire import JSON_ERRORS, NO_CONTENT, Reply, WireRequest
from ..expo.updates import known_updates
from ..native.health import decoded_body, parsed_report
from ..native.updates import release_for

bp = Blueprint("appdispatch_health", __name__)
PATH = "/v1/ota/health-metrics"
UNNAMED_CUSTOM = "custom"
"""What a custom event sent without a `name` (optional in AppDispatch's document) is counted as."""


def answer_report(b, wire: WireRequest) -> Reply:
    """Validate and buffer one report (raises OtaboxError)."""
    address = wire.client_address
    data = decoded_body(b, wire)
    slug, update_id = data.get("projectSlug"), data.get("updateUuid")
    if not isinstance(slug, str) or not 0 < len(slug) <= 200:
        raise BadRequest("projectSlug is required", details={"field": "projectSlug"})
    if update_id is not None and (not isinstance(update_id, str) or len(update_id) > 200):
        raise BadRequest("updateUuid must be a string or null", details={"field": "updateUuid"})
    view = b.serving.app_by_slug(slug)
    if view is None:
        raise NotFound(f"no app {slug!r}", code="app_not_found")
    found = parsed_report(b, data, view, address, unnamed=UNNAMED_CUSTOM)
    update = known_updates(view).get(update_id.lower()) if update_id else None
    release_id = None
    if update is not None:
        release_id = update.release.id if update.release is not None else \
            release_for(view, found.device_id, update.bundle.id, found.channel)[0]
    b.health.record(view.id, release_id, found, address)
    b.events.record(view.id, release_id, found, address)
    return NO_CONTENT


@bp.post(PATH)
def appdispatch_report():
    return JSON_ERRORS.flask(answer_report)
