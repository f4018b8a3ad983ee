"""A plain JSON check for Flutter apps (the Koolbase SDK's shape), over the domain decision.

    GET /v1/sdk/ota/check?channel=production&version=7[&platform=ios][&device_id=...][&build_number=120]
    x-api-key: <the app's clientKey>

    200 {"has_update": true, "version": 8, "checksum": "sha256:<hex>", "mandatory": false,
         "download_url": "...", "release_notes": "...", "file_size": 12345}
    200 {"has_update": false}

Versions are whole numbers per channel (core/channel_numbers.py): a bundle gets the channel's next
number when it is uploaded to the channel (POST /v1/projects/{id}/ota/upload, management.py) or
first released there. The device sends the number of the bundle it runs (0, or nothing, for the
bundle inside the binary); the server maps it back to that bundle and asks the one decision. Every
non-update outcome (up to date, blocked, rollback to the binary) is `has_update: false`; the SDK has
no way to say more. A device pinned to a bundle that has no number on its channel cannot be given
one, so it gets `has_update: false` too; so do encrypted bundles, which only capacitor-updater can
open. The device id (`device_id` parameter or `x-device-id` header) is optional; without it a device
is outside every partial rollout.

The binary's build number (`build_number`, or `native_build`) meets a bundle's `minNativeBuild` as in
the native check. A device that sends none is never offered a bundle that has one, and the reply
says why: `{"has_update": false, "reason": "build_number_required"}`.
"""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request

from ...core import decide as domain
from ...errors import BadRequest, OtaboxError, Unauthorized
from ...security.ratelimit import limit_key
from ...store.models import App
from ...web import box, signed_download_url

bp = Blueprint("flutter", __name__)
NO_UPDATE = {"has_update": False}


def app_by_client_key(key: str):
    """The AppView a client key names. Known keys are remembered per Flask app (at most one per app),
    and checked against the view each time, so a changed key stops working at once."""
    known: dict = current_app.extensions.setdefault("otabox.flutter_client_keys", {})
    slug = known.get(key)
    if slug is None:
        row = App.select(App.slug).where(App.client_key == key).first()
        if row is None:
            raise Unauthorized("a valid x-api-key header (the app's client key) is required", code="invalid_client_key")
        slug = row.slug
    view = box().serving.app(slug)
    if view is None or not hmac.compare_digest(view.client_key.encode(), key.encode("utf-8", "replace")):
        known.pop(key, None)
        raise Unauthorized("a valid x-api-key header (the app's client key) is required", code="invalid_client_key")
    known[key] = slug
    return view


def _text_arg(name: str, limit: int = 200, header: str | None = None) -> str | None:
    value = request.args.get(name) or (request.headers.get(header) if header else None) or None
    if value is not None and len(value) > limit:
        raise BadRequest(f"{name} is too long", details={"field": name})
    return value


def _build_arg() -> int | None:
    raw = request.args.get("build_number") or request.args.get("native_build") or ""
    if raw == "":
        return None
    if not raw.isdecimal() or len(raw) > 18:
        raise BadRequest("build_number must be a whole number", details={"field": "build_number"})
    return int(raw)


def _version_arg() -> int:
    raw = request.args.get("version", "")
    if raw == "":
        return 0
    if not raw.isdecimal() or len(raw) > 9:
        raise BadRequest("version must be a whole number (0 for the bundle inside the app)",
                         details={"field": "version"})
    return int(raw)


@bp.get("/v1/sdk/ota/check")
def check():
    key = request.headers.get("x-api-key", "")
    device_id = _text_arg("device_id", header="x-device-id")
    try:
        channel_name, version, build = _text_arg("channel"), _version_arg(), _build_arg()
        platform = _text_arg("platform")
        if platform not in (None, "ios", "android"):
            raise BadRequest("platform must be ios or android", details={"field": "platform"})
        if not key or len(key) > 200:
            raise Unauthorized("a valid x-api-key header (the app's client key) is required", code="invalid_client_key")
    except OtaboxError:
        box().client_limiter.take(limit_key("flutter", None, request.remote_addr))
        raise
    box().client_limiter.take(limit_key("flutter", device_id, request.remote_addr))
    view = app_by_client_key(key)
    query = domain.DeviceQuery(device_id=device_id, platform=platform,
                               current_version=current_bundle_version(view, device_id, channel_name, version),
                               channel=channel_name, native_build=build)
    decision = domain.decide(view, query)
    box().tracker.seen(view.id, device_id, decision.served_release_id, address=request.remote_addr,
                       platform=platform,
                       native_build=build, bundle_version=None if query.on_builtin else query.current_version,
                       channel=decision.channel.name if decision.channel else channel_name)
    if decision.reason == "native_build_too_low" and build is None:
        return jsonify({**NO_UPDATE, "reason": "build_number_required"})
    return jsonify(check_reply(decision))


def current_bundle_version(view, device_id: str | None, channel_name: str | None, number: int) -> str | None:
    """The version of the bundle numbered `number` on the device's channel (or the channel it is
    split to); None = the binary's bundle."""
    channel = view.channel_for(device_id, channel_name)
    if channel is None or number <= 0:
        return None
    bundle_id = channel.bundle_numbered(number)
    if bundle_id is None and channel.split is not None:
        bundle_id = channel.split.bundle_numbered(number)
    bundle = view.bundles.get(bundle_id)
    return bundle.version if bundle else None


def check_reply(decision: domain.Decision) -> dict:
    if not decision.update:
        return NO_UPDATE
    bundle = decision.bundle
    number = decision.channel.number_of(bundle.id)
    if number is None or bundle.format != "zip" or bundle.session_key:
        return NO_UPDATE
    release = decision.release or next((r for r in decision.channel.history if r.bundle and r.bundle.id == bundle.id),
                                       None)
    url, _ = signed_download_url(bundle.sha256)
    return {"has_update": True, "version": number, "checksum": f"sha256:{bundle.sha256}",
            "mandatory": decision.mandatory, "download_url": url,
            "release_notes": (release.notes if release else "") or bundle.notes, "file_size": bundle.size}
