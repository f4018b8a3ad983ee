"""The native otabox client protocol: `GET /api/v1/apps/:appId/check` and client events."""
from __future__ import annotations

import hmac
import time

from flask import Blueprint, jsonify, request

from ...core import decide as domain
from ...core.devices import MAX_DEVICE_ID, record_events
from ...errors import BadRequest, NotFound, Unauthorized
from ...security.ratelimit import limit_key
from ...store.models import App
from ...web import box, event_admission, json_body, limit_client, signed_download_url
from ..wire import JSON_ERRORS, Reply, WireRequest, json_reply
from . import patches

bp = Blueprint("native", __name__)
MAX_EVENTS = 100
TEXT_LIMITS = {"deviceId": MAX_DEVICE_ID, "version": 100, "nativeVersion": 100, "channel": 64, "platform": 20,
               "nativeBuild": 18, "currentSha256": 64, "userId": 200}
"""The longest value each check parameter may have (a version is at most 100 characters, as at upload)."""


def client_app(b, app_id: str, key: str):
    """The app a public client key belongs to (the key identifies the app; it does not protect)."""
    view = b.serving.app(app_id)
    if view is None:
        raise NotFound(f"no app {app_id[:200]!r}")
    if not key or not hmac.compare_digest(key.encode("utf-8", "replace"), view.client_key.encode()):
        raise Unauthorized("a valid X-Client-Key header is required", code="invalid_client_key")
    return view


def _text(args, name: str) -> str | None:
    value = args.get(name) or None
    if value is not None and len(value) > TEXT_LIMITS[name]:
        raise BadRequest(f"{name} must be at most {TEXT_LIMITS[name]} characters", details={"field": name})
    return value


def _native_build(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdecimal():
        raise BadRequest("nativeBuild must be a whole number", details={"field": "nativeBuild"})
    return int(raw)


def answer_check(b, wire: WireRequest) -> Reply:
    """The whole update check, for its Flask route and fastpath.FastPath (raises OtaboxError)."""
    app = client_app(b, wire.path_args["app_id"], wire.headers.get("X-Client-Key", ""))
    args = wire.query
    platform = _text(args, "platform")
    if platform not in (None, "ios", "android"):
        raise BadRequest("platform must be ios or android", details={"field": "platform"})
    query = domain.DeviceQuery(
        device_id=_text(args, "deviceId"), platform=platform, current_version=_text(args, "version"),
        native_version=_text(args, "nativeVersion"), native_build=_native_build(_text(args, "nativeBuild")),
        channel=_text(args, "channel"), user_id=_text(args, "userId"), versions_follow_native=False)
    b.client_limiter.take(limit_key("native", query.device_id, wire.client_address))
    decision = domain.decide(app, query)
    b.tracker.seen(app.id, query.device_id, decision.served_release_id, address=wire.client_address,
                   platform=platform, native_version=query.native_version, native_build=query.native_build,
                   bundle_version=None if query.on_builtin else query.current_version,
                   channel=decision.channel.name if decision.channel else query.channel)
    base = patches.base_sha256(app, platform, query.current_version, _text(args, "currentSha256"),
                               query.native_version, query.on_builtin)
    return json_reply(check_reply(app, query, decision, b, wire.origin, base))


@bp.get("/api/v1/apps/<app_id>/check")
def check(app_id):
    return JSON_ERRORS.flask(answer_check)


def check_reply(app, query: domain.DeviceQuery, decision: domain.Decision, b, origin: str,
                base: str | None = None) -> dict:
    """The reply, with the signed statement of what it tells (see `signed_statement`); `base`: the
    bundle file the device runs, when known (a patch from it may be offered)."""
    patch = patches.offered_patch(b, app, decision.bundle, base) if decision.update else None
    reply = _check_body(decision, b, origin, patch and {**patch, "base": base})
    reply["signed"], reply["signedSignature"] = signed_statement(app, query, decision, b,
                                                                 patch["sha256"] if patch else None)
    return reply


def _check_body(decision: domain.Decision, b, origin: str, patch: dict | None) -> dict:
    """Without an update, `reason` says why not (one of decide.REASONS), with the older
    `revertToBuiltin` and `blocked` (the boundary crossed) fields kept for the clients that read them.
    With one, `bundle.patch` when a patch archive from the device's bundle exists (README, "Native patches")."""
    if not decision.update:
        reply = {"updateAvailable": False, "reason": decision.reason}
        if decision.outcome == "builtin":
            reply["revertToBuiltin"] = True
        if decision.reason == "blocked":
            reply["blocked"] = decision.blocked
        return reply
    bundle = decision.bundle
    url, expires = signed_download_url(bundle.sha256, b=b, base=origin)
    offer = {"id": bundle.id, "version": bundle.version, "sha256": bundle.sha256, "size": bundle.size, "url": url,
             "expiresAt": _expiry(expires), "signature": bundle.signature, "mandatory": decision.mandatory,
             "notes": bundle.notes}
    if patch:
        patch_url, patch_expires = signed_download_url(patch["sha256"], b=b, base=origin)
        offer["patch"] = {"url": patch_url, "expiresAt": _expiry(patch_expires), "size": patch["size"],
                          "sha256": patch["sha256"], "baseSha256": patch["base"], "format": patch["format"]}
    return {"updateAvailable": True, "bundle": offer}


def _expiry(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


STATEMENT_PERIOD = 60
"""Signed statements are issued per minute, so one signature serves every check in that minute."""
MAX_STATEMENTS = 1000


def _utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def signed_statement(app, query: domain.DeviceQuery, decision: domain.Decision, b,
                     patch_sha256: str | None = None) -> tuple[dict, str]:
    """What the server tells this device, signed so that the device can tell it was meant for this app,
    channel and platform, is no older than what it saw before (`sequence`) and is still fresh:
    {app, channel, platform, version, sha256, releaseId, sequence, issuedAt, expiresAt}, and
    `patchSha256` when the reply offers a patch archive (the device checks the archive against it).

    `version` and `sha256` name the bundle the device should run: the update, the bundle it runs
    (up to date), "builtin" and null (back to the binary's bundle), or null and null (nothing
    applies, a blocked upgrade, no channel). Statements are cached per app view and minute."""
    signer = b.secrets.bundle_signer
    now = int(time.time())
    issued = now - now % STATEMENT_PERIOD
    target = decision.bundle if decision.outcome in ("update", "up_to_date") else None
    channel = decision.channel.name if decision.channel else query.channel
    version = target.version if target else (domain.BUILTIN if decision.outcome == "builtin" else None)
    release_id = decision.release.id if decision.release else None
    key = (signer.key_id, channel, query.platform, version, target.sha256 if target else None, release_id, issued,
           patch_sha256)
    cache = app.memo.setdefault("statements", {})
    found = cache.get(key)
    if found is None:
        statement = {"app": app.slug, "channel": channel, "platform": query.platform, "version": version,
                     "sha256": target.sha256 if target else None, "releaseId": release_id,
                     "sequence": app.sequence, "issuedAt": _utc(issued),
                     "expiresAt": _utc(issued + STATEMENT_PERIOD + b.config.url_ttl)}
        if patch_sha256:
            statement["patchSha256"] = patch_sha256
        if len(cache) >= MAX_STATEMENTS:
            cache.clear()
        found = cache[key] = (statement, signer.sign_statement(statement))
    return found


@bp.post("/api/v1/apps/<app_id>/events")
def events(app_id):
    view = client_app(box(), app_id, request.headers.get("X-Client-Key", ""))
    limit_client("native-events", None)
    data = json_body((dict, list))
    items = data if isinstance(data, list) else [data]
    if not 0 < len(items) <= MAX_EVENTS:
        raise BadRequest(f"send 1 to {MAX_EVENTS} events")
    app = App.get_by_id(view.id)
    stored = record_events(app, items, lambda device_id, bundle_id: release_for(view, device_id, bundle_id),
                           event_admission(), box().health)
    return jsonify({"status": "ok", "stored": stored})


def release_for(view, device_id: str, bundle_id: int | None, channel_name: str | None = None
                ) -> tuple[int | None, int | None]:
    """The release through which a device got a bundle: the newest release of that bundle in the
    device's channel (the one it names, when the app has it), else in any other channel."""
    if bundle_id not in view.bundles:
        return None, None
    channel = view.channel_for(device_id, channel_name if channel_name in view.channels else None)
    channels = [channel] if channel else []
    channels += [c for c in view.channels.values() if c is not channel]
    for candidate in channels:
        positions = candidate.positions_by_bundle.get(bundle_id)
        if positions:
            return candidate.history[positions[0]].id, bundle_id
    return None, bundle_id
