"""The capacitor-updater (Capgo plugin 8.x) self-hosted protocol, over the domain decision.

Point the plugin at otabox in `capacitor.config.json` (the Capacitor `appId`, or
`CapacitorUpdater.appId` when set, must be the otabox app slug):

    "plugins": {"CapacitorUpdater": {
        "updateUrl": "https://ota.example.com/capgo/updates",
        "statsUrl": "https://ota.example.com/capgo/stats",
        "channelUrl": "https://ota.example.com/capgo/channel_self"}}

Every request carries the plugin's info object (`app_id`, `device_id`, `platform`, `version_name`
("builtin" for the binary's bundle), `version_build` (the store version), `version_code`,
`is_emulator`, `is_prod`, `plugin_version`, `defaultChannel`, `key_id`...). Replies follow the
plugin's rules: every reply that is not an update has a `kind` ("up_to_date", "blocked",
"failed"; plugins >= 8.45 count a reply without one as a failed download), string fields are
strings (the iOS decoder rejects anything else), and 429 carries `Retry-After`.

Error codes are Capgo's own where Capgo has one, so `npx @capgo/cli probe` explains them:
`no_channel`, `disable_auto_update_to_{major,minor,patch}`, `disable_auto_update_to_metadata`
(a bundle's minUpdateVersion in "version_number" mode), `disable_auto_update_under_native`,
`disable_emulator`, `disable_dev_build`, `disabled_platform_{ios,android}`, `key_id_mismatch`,
`missing_info`, `invalid_json_body`, `too_many_requests`.

A device that names no channel (`defaultChannel`) gets the app's default channel, the one Capgo
calls public. What the info object reports about the device (`custom_id`, `plugin_version`,
`version_os`, `is_prod`, `is_emulator`) is kept on its device record.
"""
from __future__ import annotations

import dataclasses
import functools
import json

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException

from ... import jsonsafe
from ...core import decide as domain
from ...core import semver
from ...core.devices import DEVICE_ROW_BYTES, known_devices, set_self_assigned_channel, store_events
from ...errors import BadRequest, NotFound, OtaboxError
from ...security.ratelimit import RateLimited, limit_key
from ...store.models import App, BundleFile
from ...web import box, event_admission, signed_download_url, signed_download_urls
from ..native.updates import release_for
from ..wire import Protocol, Reply, WireRequest, json_reply

bp = Blueprint("capacitor", __name__)

PLATFORMS = ("ios", "android", "electron")
STRING_FIELDS = ("app_id", "device_id", "platform", "custom_id", "version_build", "version_code", "version_os",
                 "version_name", "old_version_name", "plugin_version", "install_source", "defaultChannel", "key_id",
                 "channel", "action")
BOOLEAN_FIELDS = ("is_emulator", "is_prod")
MAX_FIELD = 200
"""Capgo's own limit on the plugin's string fields."""
MAX_EVENTS = 100
MAX_METADATA = 1024
"""Bytes of a stat's `metadata` (as compact JSON) kept with the event; larger metadata is replaced by a note."""
MANIFEST_MIN_PLUGIN = semver.parse_version("6.2.0")
"""The Capgo backend sends `manifest` from this plugin version on; older plugins ignore it."""

EVENT_TYPES = {"download_complete": "downloaded", "set": "installed", "set_fail": "failed", "update_fail": "failed",
               "download_fail": "failed", "checksum_fail": "failed", "decrypt_fail": "failed", "unzip_fail": "failed"}
"""Plugin stat actions that count as release stats; every other action is stored and counted as itself."""
KNOWN_ACTIONS = frozenset({
    "set", "set_next", "set_fail", "reset", "delete", "update_fail",
    "download_complete", "download_fail", *(f"download_{n}" for n in range(10, 100, 10)), "download_zip_start",
    "download_zip_complete", "download_manifest_start", "download_manifest_complete",
    "download_manifest_file_fail", "download_manifest_checksum_fail", "download_manifest_brotli_fail",
    "manifest_path_fail", "finish_download_fail", "checksum_fail", "checksum_required", "decrypt_fail",
    "unzip_fail", "windows_path_fail", "canonical_path_fail", "directory_path_fail", "low_mem_fail",
    "insufficient_disk_space", "app_moved_to_foreground", "app_moved_to_background", "app_launch_start",
    "app_launch_ready", "app_launch_timeout", "blocked_by_server_url", "rate_limit_reached"})
"""The actions capacitor-updater sends (its sources, 8.51.14). Any other name is kept on its event
but counted as "other": the names are the client's to choose, and each would be a stat row of the
release shown in every management view."""
OTHER_ACTION = "other"

BLOCKED_UPGRADE_MESSAGES = {
    "major": "The channel does not allow automatic updates to a new major version",
    "minor": "The channel does not allow automatic updates to a new minor version",
    "patch": "The channel does not allow automatic updates to a new patch version",
}
POLICY_REFUSALS = {
    **{boundary: (f"disable_auto_update_to_{boundary}", message)
       for boundary, message in BLOCKED_UPGRADE_MESSAGES.items()},
    "min_update_version": ("disable_auto_update_to_metadata",
                           "Cannot upgrade version, min update version > current version"),
    "below_native": ("disable_auto_update_under_native", "Cannot revert under native version"),
}
"""Capgo's error code and message for each channel policy the decision names (`Decision.blocked`)."""


UP_TO_DATE, BLOCKED, FAILED = "up_to_date", "blocked", "failed"
REFUSAL_KINDS = (UP_TO_DATE, BLOCKED, FAILED)
"""The `kind` of every reply that is not an update: nothing newer, refused by a rule, or an error."""


class CapgoRefusal(Exception):
    """A reply in the plugin's error shape: {kind, error, message, ...extra} with an HTTP status."""

    def __init__(self, kind: str, error: str, message: str, status: int = 200, **extra):
        super().__init__(message)
        self.body = {"kind": kind, "error": error, "message": message, **extra}
        self.status = status


def error_reply(exc: CapgoRefusal | OtaboxError) -> tuple[int, dict, dict]:
    """Status, body and headers of a refusal or error, in the plugin's shape."""
    if isinstance(exc, CapgoRefusal):
        return exc.status, exc.body, {}
    kind = BLOCKED if isinstance(exc, RateLimited) else FAILED
    return exc.status, {"kind": kind, "error": exc.code, "message": exc.message}, exc.headers


def render_error(exc: CapgoRefusal | OtaboxError) -> Reply:
    status, body, headers = error_reply(exc)
    return json_reply(body, status, headers)


PROTOCOL = Protocol(render_error, (CapgoRefusal, OtaboxError))
PATH_PREFIX = "/capgo/"


@bp.errorhandler(CapgoRefusal)
@bp.errorhandler(OtaboxError)
def _error(exc):
    """The routes outside `PROTOCOL` (stats, channel_self) answer through Flask's JSON encoder."""
    status, body, headers = error_reply(exc)
    return jsonify(body), status, headers


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return jsonify({"kind": FAILED, "error": "http_error", "message": exc.description}), exc.code


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """The plugin's info object, validated."""

    app_id: str
    device_id: str
    platform: str | None
    version_name: str
    version_build: str | None
    version_code: str | None
    plugin_version: str | None
    is_emulator: bool
    is_prod: bool
    default_channel: str | None
    key_id: str | None
    fields: dict

    @property
    def on_builtin(self) -> bool:
        return self.version_name == domain.BUILTIN

    @property
    def native_build(self) -> int | None:
        code = self.version_code
        return int(code) if code and code.isdecimal() and len(code) <= 18 else None

    def query(self) -> domain.DeviceQuery:
        return domain.DeviceQuery(device_id=self.device_id, platform=self.platform,
                                  current_version=self.version_name, native_version=self.version_build,
                                  native_build=self.native_build, channel=self.default_channel,
                                  accepts_encrypted=True)

    def reported(self) -> dict:
        """What the device reports about itself, for its device record (None: not reported)."""
        fields = self.fields
        return {"custom_id": fields.get("custom_id"), "plugin_version": fields.get("plugin_version"),
                "os_version": fields.get("version_os"), "is_prod": fields.get("is_prod"),
                "is_emulator": fields.get("is_emulator")}

    def supports_manifest(self) -> bool:
        try:
            return not semver.coerce_app_version(self.plugin_version or "") < MANIFEST_MIN_PLUGIN
        except ValueError:
            return False


def parse_info(data, required=("app_id", "device_id", "platform")) -> DeviceInfo:
    """Validate an info object strictly; raise BadRequest with Capgo's codes otherwise."""
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json_body")
    for name in STRING_FIELDS:
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_FIELD):
            raise BadRequest(f"{name} must be a string of at most {MAX_FIELD} characters", code="invalid_json_body")
    for name in BOOLEAN_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, bool):
            raise BadRequest(f"{name} must be true or false", code="invalid_json_body")
    missing = [name for name in required if not data.get(name)]
    if missing:
        raise BadRequest(f"missing {', '.join(missing)}", code="missing_info")
    platform = data.get("platform") or None
    if platform is not None and platform not in PLATFORMS:
        raise BadRequest(f"platform must be one of {', '.join(PLATFORMS)}", code="invalid_json_body")
    return DeviceInfo(
        app_id=data.get("app_id") or "", device_id=data.get("device_id") or "", platform=platform,
        version_name=data.get("version_name") or domain.BUILTIN, version_build=data.get("version_build") or None,
        version_code=data.get("version_code") or None, plugin_version=data.get("plugin_version") or None,
        is_emulator=bool(data.get("is_emulator")), is_prod=data.get("is_prod") is not False,
        default_channel=data.get("defaultChannel") or None, key_id=data.get("key_id") or None, fields=data)


def payload_from(raw: bytes):
    """A body's JSON (any type), or a Capgo-style error."""
    try:
        data = jsonsafe.loads(raw) if raw else None
    except ValueError:  # UnicodeDecodeError is one too
        data = None
    if data is None:
        raise BadRequest("the body must be JSON", code="invalid_json_body")
    return data


def json_payload():
    return payload_from(request.get_data())


def limited(b, endpoint: str, parse, address: str | None):
    """Parse the request with `parse`, then take a token for its device (or, when the request is
    invalid, for its address) so floods of bad requests are limited too."""
    limiter = b.client_limiter
    try:
        info = parse()
    except OtaboxError:
        limiter.take(limit_key(f"capgo-{endpoint}", None, address))
        raise
    limiter.take(f"capgo-{endpoint}:{info.app_id}:{info.device_id}")
    return info


def app_view(b, info: DeviceInfo):
    view = b.serving.app_by_slug(info.app_id)
    if view is None:
        raise NotFound(f"no app {info.app_id[:200]!r} on this server (app_id must be the otabox app slug)",
                       code="app_not_found")
    return view


def answer_updates(b, wire: WireRequest) -> Reply:
    """The whole update request, for its Flask route and fastpath.FastPath (raises CapgoRefusal or
    OtaboxError)."""
    info = limited(b, "updates", lambda: parse_info(payload_from(wire.body)), wire.client_address)
    view = app_view(b, info)
    decision = domain.decide(view, info.query())
    b.tracker.seen(view.id, info.device_id, decision.served_release_id, address=wire.client_address,
                   platform=info.platform, native_version=info.version_build, native_build=info.native_build,
                   bundle_version=None if info.on_builtin else info.version_name,
                   channel=decision.channel.name if decision.channel else info.default_channel, **info.reported())
    return json_reply(update_reply(b, info, decision, wire.origin))


@bp.post("/capgo/updates")
def updates():
    return PROTOCOL.flask(answer_updates)


def update_reply(b, info: DeviceInfo, decision: domain.Decision, origin: str) -> dict:
    """The plugin's reply for a decision; raises CapgoRefusal for refusals."""
    if decision.outcome == "no_channel":
        if info.default_channel:
            raise CapgoRefusal(BLOCKED, "no_channel", f"no channel {info.default_channel!r} for this app")
        raise CapgoRefusal(BLOCKED, "no_channel", "no default channel or override")
    check_channel_allows(decision.channel, info)
    if decision.outcome == "builtin":
        if info.on_builtin:
            return up_to_date(info)
        return {"version": domain.BUILTIN, "message": "The channel serves the bundle built into the app"}
    if decision.outcome == "blocked":
        bundle = decision.bundle
        baseline = info.version_build if info.on_builtin else info.version_name
        extra = {"old": baseline} if baseline else {}
        if decision.blocked in ("major", "min_update_version"):
            extra["major"] = True
        code, message = POLICY_REFUSALS[decision.blocked]
        raise CapgoRefusal(BLOCKED, code, message, version=bundle.version, **extra)
    if not decision.update:
        return up_to_date(info)
    return offer(b, info, decision, origin)


def up_to_date(info: DeviceInfo) -> dict:
    return {"kind": UP_TO_DATE, "error": "no_new_version_available", "message": "No new version available",
            "version": info.version_name}


def check_channel_allows(channel, info: DeviceInfo) -> None:
    """Capgo's per-channel device filters (all allow by default)."""
    if info.is_emulator and not channel.allow_emulator:
        raise CapgoRefusal(BLOCKED, "disable_emulator", "The channel does not allow emulators")
    if not info.is_prod and not channel.allow_dev:
        raise CapgoRefusal(BLOCKED, "disable_dev_build", "The channel does not allow development builds")
    if (info.platform == "ios" and not channel.ios_enabled) or (
            info.platform == "android" and not channel.android_enabled):
        raise CapgoRefusal(BLOCKED, f"disabled_platform_{info.platform}",
                           f"The channel does not serve {info.platform} devices")


def offer(b, info: DeviceInfo, decision: domain.Decision, origin: str) -> dict:
    bundle = decision.bundle
    if bundle.format != "zip":
        raise CapgoRefusal(BLOCKED, "unsupported_bundle_format",
                           f"the channel serves a {bundle.format} bundle, which capacitor-updater cannot install")
    if bundle.key_id and info.key_id != bundle.key_id:
        raise CapgoRefusal(BLOCKED, "key_id_mismatch",
                           "The bundle is encrypted for another public key than the app's", version=bundle.version)
    url, _ = signed_download_url(bundle.sha256, b=b, base=origin)
    reply = {"version": bundle.version, "url": url}
    if bundle.session_key:
        reply["checksum"] = bundle.encrypted_checksum
        reply["session_key"] = bundle.session_key
    else:
        reply["checksum"] = bundle.sha256
        if info.supports_manifest():
            files = bundle_files(bundle.id, bundle.sha256)
            # The plugin Brotli-decompresses manifest files named *.br; such zips go whole.
            if files and not any(path.endswith(".br") for path, _ in files):
                reply["manifest"] = signed_manifest(b, bundle.id, bundle.sha256, origin,
                                                    b.secrets.url_signer.reuse_bucket())
    notes = (decision.release.notes if decision.release else "") or bundle.notes
    if notes:
        reply["message"] = notes
    return reply


@functools.lru_cache(maxsize=32)
def signed_manifest(b, bundle_id: int, zip_sha256: str, origin: str, bucket: int) -> list[dict]:
    """A zip bundle's manifest with a signed URL per file, made once per bundle, origin and minute
    of expiry (`bucket`) and shared by every check in that minute: a bundle of 12 000 files would
    otherwise cost 12 000 signatures per check. Never changed by its callers."""
    files = bundle_files(bundle_id, zip_sha256)
    urls = signed_download_urls((sha for _, sha in files), "file", b, origin, bucket)
    return [{"file_name": path, "file_hash": sha, "download_url": url} for (path, sha), url in zip(files, urls)]


@functools.lru_cache(maxsize=512)
def bundle_files(bundle_id: int, zip_sha256: str) -> tuple[tuple[str, str], ...]:
    """The files of a zip bundle as (path, sha256). Keyed by the zip's SHA-256 too, which fixes its
    files, so the cache cannot go stale while bundles are immutable."""
    rows = (BundleFile.select(BundleFile.path, BundleFile.sha256)
            .where(BundleFile.bundle == bundle_id).order_by(BundleFile.path))
    return tuple((row.path, row.sha256) for row in rows)


@dataclasses.dataclass(frozen=True)
class StatsBatch:
    """Events of one request; the first names the device the rate limit counts them for."""

    app_id: str
    device_id: str
    events: list


@bp.post("/capgo/stats")
def stats():
    def parse():
        data = json_payload()
        events = data if isinstance(data, list) else [data]
        if not 0 < len(events) <= MAX_EVENTS:
            raise BadRequest(f"send 1 to {MAX_EVENTS} events", code="invalid_json_body")
        parsed = [parse_info(event, ("app_id", "device_id", "action")) for event in events]
        return StatsBatch(parsed[0].app_id, parsed[0].device_id, parsed)

    batch = limited(box(), "stats", parse, request.remote_addr)
    budget, admitted = event_admission(), set()
    by_app: dict[str, list[DeviceInfo]] = {}
    for event in batch.events:
        by_app.setdefault(event.app_id, []).append(event)
    for app_id, events in by_app.items():
        view = app_view(box(), events[0])
        ids = {e.device_id for e in events}
        known = known_devices(view.id, ids) | box().tracker.buffered(view.id, ids)

        def admit(device_id: str, size: int, known=known) -> bool:
            """The event budget; what a device reports is kept only for devices it admits events of,
            and a device row the report makes is charged with that device's first event."""
            new_row = device_id not in known and device_id not in admitted
            if budget(device_id, size + (DEVICE_ROW_BYTES if new_row else 0)):
                admitted.add(device_id)
                return True
            return False

        rows = [(e.device_id, bundle_for(view, e.version_name, e.platform), EVENT_TYPES.get(e.fields["action"]),
                 stat_action(e.fields["action"]), event_message(e)) for e in events]
        store_events(App.get_by_id(view.id), rows,
                     lambda device_id, bundle_id, view=view: release_for(view, device_id, bundle_id), admit,
                     box().health)
        for event in {e.device_id: e for e in events if e.device_id in admitted}.values():
            box().tracker.reported(view.id, event.device_id, event.reported(), address=request.remote_addr)
    return jsonify({"status": "ok"})


def bundle_for(view, version_name: str, platform: str | None) -> int | None:
    """The bundle a stat names by version: the platform's own bundle first, then one for all."""
    if version_name == domain.BUILTIN:
        return None
    candidates = [b for b in view.bundles.values() if b.version == version_name and b.serves_platform(platform)]
    candidates.sort(key=lambda b: b.platform == "all")
    return candidates[0].id if candidates else None


def stat_action(action: str) -> str:
    return action if action in KNOWN_ACTIONS else OTHER_ACTION


def event_message(event: DeviceInfo) -> str:
    """What the event tells besides its action and bundle, as compact JSON (with an action the plugin
    does not send, its name)."""
    details = {"version_name": event.version_name}
    if event.fields["action"] not in KNOWN_ACTIONS:
        details["action"] = event.fields["action"]
    if event.fields.get("old_version_name"):
        details["old_version_name"] = event.fields["old_version_name"]
    metadata = event.fields.get("metadata")
    if isinstance(metadata, dict) and metadata:
        compact = json.dumps(metadata, separators=(",", ":"), default=str)
        details["metadata"] = metadata if len(compact.encode()) <= MAX_METADATA else {
            "dropped": f"metadata over {MAX_METADATA} bytes"}
    return json.dumps(details, separators=(",", ":"), default=str)


@bp.post("/capgo/channel_self")
def set_channel():
    """setChannel: assign the device to a channel that allows self-assignment. A device the app has
    no row for takes one from its address's daily budget of new devices (429 past it: the choice is
    the row, so it cannot be answered without being recorded)."""
    info = limited(box(), "channel", lambda: parse_info(json_payload(), ("app_id", "device_id", "channel")),
                   request.remote_addr)
    view = app_view(box(), info)
    name = info.fields["channel"]
    channel = view.channel_named(name)
    if channel is None:
        raise CapgoRefusal(FAILED, "channel_not_found", f"no channel {name!r}", status=400)
    if not channel.allow_device_self_assign:
        raise CapgoRefusal(BLOCKED, "channel_self_set_not_allowed",
                           f"channel {name!r} does not allow devices to assign themselves", status=403)
    ids = {info.device_id}
    if not known_devices(view.id, ids) | box().tracker.buffered(view.id, ids):
        box().tracker.new_devices.take(request.remote_addr)
    set_self_assigned_channel(App.get_by_id(view.id), info.device_id, channel.name)
    box().tracker.reported(view.id, info.device_id, info.reported(), address=request.remote_addr)
    return jsonify({"status": "ok", "message": f"the device now uses channel {name!r}"})


@bp.put("/capgo/channel_self")
def get_channel():
    """getChannel: the channel the server uses for this device. It only reads: what the device reports
    updates a device the app knows, and makes no row for an id it does not."""
    info = limited(box(), "channel", lambda: parse_info(json_payload(), ("app_id", "device_id")),
                   request.remote_addr)
    view = app_view(box(), info)
    channel = view.channel_for(info.device_id, info.default_channel)
    if channel is None:
        raise CapgoRefusal(FAILED, "channel_not_found", "no channel applies to this device", status=400)
    box().tracker.reported(view.id, info.device_id, info.reported(), creates=False)
    override = view.overrides.get(info.device_id)
    assigned = bool(override and (override.channel or override.self_assigned_channel))
    return jsonify({"status": "override" if assigned else "default", "channel": channel.name,
                    "allowSet": channel.allow_device_self_assign,
                    "message": f"the device uses channel {channel.name!r}"})


@bp.get("/capgo/channel_self")
def list_channels():
    """listChannels: the channels a device may assign itself to (the info object is in the query)."""
    info = limited(box(), "channel", lambda: parse_info(query_info(), ("app_id",)), request.remote_addr)
    view = app_view(box(), info)
    return jsonify([{"id": c.id, "name": c.name, "public": c.name == view.default_channel, "allow_self_set": True}
                    for c in sorted(view.channels.values(), key=lambda c: c.id) if c.allow_device_self_assign])


@bp.delete("/capgo/channel_self")
def unset_channel():
    """unsetChannel: forget the device's own choice of channel (admin overrides stay)."""
    info = limited(box(), "channel", lambda: parse_info(json_payload() if request.get_data() else query_info(),
                                                        ("app_id", "device_id")), request.remote_addr)
    view = app_view(box(), info)
    set_self_assigned_channel(App.get_by_id(view.id), info.device_id, None)
    return jsonify({"status": "ok", "message": "the device uses its default channel again"})


def query_info() -> dict:
    """The info object from query parameters (listChannels sends it so, booleans as text)."""
    data: dict = dict(request.args.items())
    for name in BOOLEAN_FIELDS:
        if name in data:
            if data[name] not in ("true", "false"):
                raise BadRequest(f"{name} must be true or false", code="invalid_query_parameters")
            data[name] = data[name] == "true"
    return data

