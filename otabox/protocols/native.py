"""The native otabox client protocol: `GET /api/v1/apps/:appId/check` and client events."""
from __future__ import annotations

import hmac
import time

from flask import Blueprint, jsonify, request

from .. import decide as domain
from ..devices import record_events
from ..errors import BadRequest, NotFound, Unauthorized
from ..models import App
from ..web import box, json_body, limit_client, signed_download_url

bp = Blueprint("native", __name__)


def client_app(app_id: str):
    """The app a public client key belongs to (the key identifies the app; it does not protect)."""
    view = box().serving.app(app_id)
    if view is None:
        raise NotFound(f"no app {app_id!r}")
    key = request.headers.get("X-Client-Key", "")
    if not key or not hmac.compare_digest(key.encode("utf-8", "replace"), view.client_key.encode()):
        raise Unauthorized("a valid X-Client-Key header is required", code="invalid_client_key")
    return view


def _native_build(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdecimal():
        raise BadRequest("nativeBuild must be a whole number", details={"field": "nativeBuild"})
    return int(raw)


def bundle_offer(bundle, mandatory: bool) -> dict:
    url, expires = signed_download_url(bundle.sha256)
    return {"id": bundle.id, "version": bundle.version, "sha256": bundle.sha256, "size": bundle.size, "url": url,
            "expiresAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(expires)),
            "signature": bundle.signature, "mandatory": mandatory, "notes": bundle.notes}


@bp.get("/api/v1/apps/<app_id>/check")
def check(app_id):
    app = client_app(app_id)
    b = box()
    args = request.args
    platform = args.get("platform") or None
    if platform not in (None, "ios", "android"):
        raise BadRequest("platform must be ios or android", details={"field": "platform"})
    query = domain.DeviceQuery(
        device_id=(args.get("deviceId") or None), platform=platform, current_version=args.get("version") or None,
        native_version=args.get("nativeVersion") or None, native_build=_native_build(args.get("nativeBuild")),
        channel=args.get("channel") or None)
    if query.device_id and len(query.device_id) > 200:
        raise BadRequest("deviceId is too long", details={"field": "deviceId"})
    limit_client("native", query.device_id)
    decision = domain.decide(app, query)
    b.tracker.seen(app.id, query.device_id, decision.release.id if decision.release else None,
                       platform=platform, native_version=query.native_version, native_build=query.native_build,
                       bundle_version=None if query.on_builtin else query.current_version,
                       channel=decision.channel.name if decision.channel else query.channel)
    return jsonify(check_reply(decision))


def check_reply(decision: domain.Decision) -> dict:
    if decision.outcome == "no_channel":
        return {"updateAvailable": False, "reason": "no_channel"}
    if decision.outcome == "builtin":
        return {"updateAvailable": False, "revertToBuiltin": True}
    if decision.outcome == "blocked":
        return {"updateAvailable": False, "blocked": decision.blocked}
    if not decision.update:
        return {"updateAvailable": False}
    return {"updateAvailable": True, "bundle": bundle_offer(decision.bundle, decision.mandatory)}


@bp.post("/api/v1/apps/<app_id>/events")
def events(app_id):
    view = client_app(app_id)
    limit_client("native-events", None)
    data = json_body((dict, list))
    items = data if isinstance(data, list) else [data]
    if not 0 < len(items) <= 1000:
        raise BadRequest("send 1 to 1000 events")
    app = App.get_by_id(view.id)
    stored = record_events(app, items, lambda device_id, bundle_id: release_for(view, device_id, bundle_id))
    return jsonify({"status": "ok", "stored": stored})


def release_for(view, device_id: str, bundle_id: int | None) -> tuple[int | None, int | None]:
    """The release through which a device got a bundle: its channel's newest release of that bundle."""
    if bundle_id not in view.bundles:
        return None, None
    channel = view.channel_for(device_id, None)
    channels = [channel] if channel else []
    channels += [c for c in view.channels.values() if c is not channel]
    for candidate in channels:
        for release in candidate.history:
            if release.bundle is not None and release.bundle.id == bundle_id:
                return release.id, bundle_id
    return None, bundle_id
