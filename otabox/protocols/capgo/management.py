"""Capgo's public API (channels, devices, bundles), mapped onto otabox's apps, channels, device
overrides and bundles.

    POST   /channel   ChannelSet                          → {"status": "ok"}  (create, or change settings)
    GET    /channel   ?app_id[&page][&channel]            → [Channel] (50 a page) or one Channel
    DELETE /channel   {channel, app_id}                   → {"status": "ok"}
    POST   /device    {app_id, device_id, version_id?, channel?} → {"status": "ok"}  (overrides)
    GET    /device    ?app_id[&page][&device_id]          → [Device] (50 a page) or one Device
    DELETE /device    {device_id, app_id}                 → {"status": "ok"}  (overrides removed)
    GET    /bundle    ?app_id[&page]                      → [Bundle] (50 a page)
    DELETE /bundle    {app_id, version?}                  → {"status": "ok"}

The API key is the whole `authorization` header, as Capgo sends it (`Bearer <key>` works too); it is an
otabox API key or access token. `app_id` is the app's slug (or id). Field names are Capgo's, snake_case
where Capgo writes it; ChannelSet's names map onto otabox's channel settings (core/apps.py), a
`version` or `version_id` names a bundle by its version. Errors are otabox's: the document shows no
error body."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ...core import apps, audit, bundles, devices
from ...core.devices import MAX_DEVICE_ID
from ...core.releases import serving_releases
from ...errors import BadRequest, Conflict, Forbidden, NotFound
from ...fields import Boolean, Choice, Schema, Text, Whole
from ...security import auth
from ...store.blobs import blob_name
from ...store.models import App, Bundle, Channel, Device, iso
from ...web import accepts, actor, api_key, body, box, query

bp = Blueprint("capgo_management", __name__)
OK = {"status": "ok"}
PAGE_SIZE = 50
BUILTIN = "builtin"
"""Capgo's name for the bundle inside the binary."""

SETTINGS = {"public": "public", "disableAutoUpdateUnderNative": "disableAutoUpdateUnderNative",
            "disableAutoUpdate": "blockUpgrades", "ios": "ios", "android": "android",
            "allow_device_self_set": "allowDeviceSelfAssign", "allow_emulator": "allowEmulator",
            "allow_dev": "allowDev"}
"""ChannelSet's names → otabox's channel settings (apps.CHANNEL_SETTINGS)."""
READ_BACK = {"disableAutoUpdate": "disable_auto_update"}
"""ChannelSet's names whose value a Channel reply carries under another name (channel_json)."""
DISABLE_AUTO_UPDATE = ("major", "minor", "version_number", "none")
"""ChannelSet's `disable_update` type (otabox's blockUpgrades also knows `patch`)."""

APP_ID = Text(200, min_length=1, required=True, description="The app's id in Capgo: its slug in otabox (or its "
                                                               "numeric id)")
VERSION_NAME = Text(100, min_length=1, description="A bundle's version name")
CHANNEL_SET = Schema({
    "app_id": APP_ID, "channel": Text(64, min_length=1, required=True),
    "version": VERSION_NAME.but(description="The bundle the channel serves (it is released to the channel)"),
    "disableAutoUpdate": Choice(DISABLE_AUTO_UPDATE),
    **{name: Boolean() for name in SETTINGS if name != "disableAutoUpdate"}})
PAGED = Schema({"app_id": APP_ID, "page": Whole(0, 10**6, default=0, description=f"Pages of {PAGE_SIZE}, from 0")})
CHANNEL_QUERY = PAGED.extend({"channel": Text(200, min_length=1, description="One channel, by name")})
CHANNEL_DELETE = Schema({"channel": Text(200, min_length=1, required=True),
                         "app_id": APP_ID.but(required=False, description="Required when the key reaches more "
                                                                          "than one app (the document omits it)")})
DEVICE_ID = Text(MAX_DEVICE_ID, min_length=1, required=True)
DEVICE_LINK = Schema({"app_id": APP_ID, "device_id": DEVICE_ID,
                      "version_id": VERSION_NAME.but(description="Pin the device to the bundle of this version"),
                      "channel": Text(200, min_length=1, description="Pin the device to this channel")})
DEVICE_QUERY = PAGED.extend({"device_id": DEVICE_ID.but(required=False, description="One device")})
DEVICE_UNLINK = Schema({"app_id": APP_ID, "device_id": DEVICE_ID})
BUNDLE_DELETE = Schema({"app_id": APP_ID, "version": VERSION_NAME.but(
    description="The bundle to delete; without it, every bundle nothing uses (no release history, device pin or "
                "channel number)")})


def _app(app_id: str, role: str = "reader") -> App:
    """The app `app_id` names, which the caller must reach with `role` (each view first calls
    api_key(role), so 401 and 403 come before the input is checked)."""
    caller = api_key(role)
    app = apps.find_app(app_id, among=caller.visible(App.select()))
    auth.require_app(caller, app, role)
    return app


def _bundle_named(app: App, version: str) -> Bundle:
    rows, total = bundles.list_bundles(app, 2, 0, version=version)
    if total == 0:
        raise NotFound(f"no bundle of version {version!r} in app {app.slug!r}", details={"version": version})
    if total > 1:
        raise Conflict(f"several bundles (one per platform) have version {version!r}; pick one with otabox's "
                       "API", code="ambiguous_version", details={"version": version})
    return rows[0]


def _page(args: dict) -> tuple[int, int]:
    return PAGE_SIZE, args["page"] * PAGE_SIZE


def _version(bundle: Bundle | None) -> dict:
    return {"id": bundle.id, "name": bundle.version} if bundle else {"id": None, "name": BUILTIN}


def _creator(entity_type: str, entity_id: int, action: str) -> str | None:
    entry = audit.query(limit=1, action=action, entity_type=entity_type, entity_id=str(entity_id))
    return entry[0]["actor"] if entry else None


# --- channels -----------------------------------------------------------------------------------

def channel_json(app: App, channel: Channel) -> dict:
    """Capgo's Channel, with ChannelSet's other settings (ios, android, allow_device_self_set) beside.
    `created_by`: who created the channel (or its app); `updated_at`: its last change or release.
    `disableAutoUpdate` is the boolean the document's Channel types it (any upgrade blocked); which
    upgrades are blocked, the `disable_update` value ChannelSet takes, is `disable_auto_update` beside
    it, the name of the column Capgo's own channel rows carry it in."""
    _, current, _ = serving_releases(channel)  # what every device gets, not a rollback of one platform/runtime
    changes = [e["at"] for e in audit.query(limit=1, entity_type="channel", entity_id=str(channel.id))]
    updated = max([iso(channel.created_at), *changes, *([iso(current.created_at)] if current else [])])
    return {"id": channel.id, "created_at": iso(channel.created_at), "name": channel.name, "app_id": app.slug,
            "version": _version(current.bundle if current else None),
            "created_by": _creator("channel", channel.id, "channel.created") or _creator("app", app.id, "app.created")
            or "", "updated_at": updated, "public": app.default_channel == channel.name,
            "disableAutoUpdateUnderNative": channel.disable_auto_update_under_native,
            "disableAutoUpdate": channel.block_upgrades != "none", "disable_auto_update": channel.block_upgrades,
            "allow_emulator": channel.allow_emulator,
            "allow_dev": channel.allow_dev, "allow_device_self_set": channel.allow_device_self_assign,
            "ios": channel.ios_enabled, "android": channel.android_enabled}


@bp.post("/channel")
@accepts(body=CHANNEL_SET)
def set_channel():
    """Setting an existing channel's `version` is a release (what `otabox release` and the releases
    API let a publisher do), so a publisher may; creating a channel or changing its other settings
    stays the admin's, as in otabox's own channel API. A key of another app hears that first."""
    caller = api_key("publisher")
    data = dict(body())
    app = _app(data.pop("app_id"), "publisher")
    name, version = data.pop("channel"), data.pop("version", None)
    if caller.role_on(app.id) != "admin":
        _require_admin_unless_release(caller, app, name, data)
    bundle = _bundle_named(app, version) if version is not None else None
    apps.configure_channel(app, name, actor(), {SETTINGS[k]: v for k, v in data.items()}, bundle)
    return jsonify(OK)


def _require_admin_unless_release(caller: auth.Principal, app: App, name: str, settings: dict) -> None:
    """A publisher's ChannelSet may repeat the channel's settings as they are (a script sending the
    whole ChannelSet each time); changing one is refused naming it."""
    try:
        channel = apps.find_channel(app, name)
    except NotFound:
        raise Forbidden(f"creating channel {name!r} needs the admin role on {app.slug}; {caller.label} is a "
                        f"{caller.role_on(app.id)} there (a publisher may set an existing channel's version)",
                        details={"required": "admin", "role": caller.role_on(app.id)}) from None
    current = channel_json(app, channel)
    changed = sorted(k for k, v in settings.items() if current[READ_BACK.get(k, k)] != v)
    if changed:
        names = ", ".join(changed)
        raise Forbidden(f"changing a channel's {names} needs the admin role on {app.slug}; {caller.label} is a "
                        f"{caller.role_on(app.id)} there (a publisher may set its version)",
                        details={"required": "admin", "role": caller.role_on(app.id), "fields": changed})


@bp.get("/channel")
@accepts(query=CHANNEL_QUERY)
def get_channels():
    api_key("reader")
    args = query()
    app = _app(args["app_id"])
    if "channel" in args:
        return jsonify(channel_json(app, apps.find_channel(app, args["channel"])))
    rows, _ = apps.list_channels(app, *_page(args))
    return jsonify([channel_json(app, c) for c in rows])


@bp.delete("/channel")
@accepts(body=CHANNEL_DELETE)
def delete_channel():
    """The document sends only `channel`; a key reaching one app needs no more, others name the app."""
    api_key("admin")
    data = body()
    if "app_id" in data:
        app = _app(data["app_id"], "admin")
    else:
        reached = list(api_key("admin").visible(App.select().order_by(App.id)))
        if len(reached) != 1:
            raise BadRequest(f"app_id is required: the key reaches {len(reached)} apps", details={"field": "app_id"})
        app = _app(str(reached[0].id), "admin")
    apps.delete_channel(apps.find_channel(app, data["channel"]), actor())
    return jsonify(OK)


# --- devices ------------------------------------------------------------------------------------

def device_json(app: App, device: Device, bundle_ids: dict[str, int]) -> dict:
    """Capgo's Device (the one-device reply has the list's fields too). `version`: the bundle the
    device reported running; `version_build`: its native version."""
    running = device.bundle_version or BUILTIN
    return {"created_at": iso(device.first_seen), "updated_at": iso(device.last_seen), "device_id": device.device_id,
            "custom_id": device.custom_id or "", "version": {"id": bundle_ids.get(running), "name": running},
            "app_id": app.slug, "platform": device.platform if device.platform in ("ios", "android") else None,
            "plugin_version": device.plugin_version or "", "os_version": device.os_version,
            "version_build": device.native_version, "is_prod": device.is_prod is not False,
            "is_emulator": bool(device.is_emulator)}


def _bundle_ids(app: App) -> dict[str, int]:
    return {b.version: b.id for b in Bundle.select(Bundle.id, Bundle.version).where(Bundle.app == app)
            .order_by(Bundle.id.desc())}


@bp.post("/device")
@accepts(body=DEVICE_LINK)
def link_device():
    """Pin a device to a bundle (`version_id`) and/or a channel; the override not named is kept."""
    api_key("publisher")
    data = body()
    app = _app(data["app_id"], "publisher")
    if "version_id" not in data and "channel" not in data:
        raise BadRequest("send version_id and/or channel", details={"field": "version_id"})
    try:
        pinned = devices.find_device(app, data["device_id"])
    except NotFound:
        pinned = None
    channel = (apps.find_channel(app, data["channel"]) if "channel" in data else
               apps.find_channel(app, pinned.override_channel) if pinned and pinned.override_channel else None)
    bundle = (_bundle_named(app, data["version_id"]) if "version_id" in data else
              pinned.override_bundle if pinned else None)
    devices.set_override(app, data["device_id"], channel, bundle, actor())
    return jsonify(OK)


@bp.get("/device")
@accepts(query=DEVICE_QUERY)
def get_devices():
    api_key("reader")
    args = query()
    app = _app(args["app_id"])
    known = _bundle_ids(app)
    if "device_id" in args:
        return jsonify(device_json(app, devices.find_device(app, args["device_id"]), known))
    rows, _ = devices.list_devices(app, *_page(args), None, None)
    return jsonify([device_json(app, d, known) for d in rows])


@bp.delete("/device")
@accepts(body=DEVICE_UNLINK)
def unlink_device():
    api_key("publisher")
    data = body()
    devices.clear_override(_app(data["app_id"], "publisher"), data["device_id"], actor())
    return jsonify(OK)


# --- bundles ------------------------------------------------------------------------------------

def bundle_json(app: App, bundle: Bundle) -> dict:
    """Capgo's Bundle. otabox keeps bundles in its own store (`storage_provider` "otabox", `r2_path`
    the blob's path there); it has no organizations (`owner_org` is the app); `user_id` is who uploaded."""
    return {"app_id": app.slug, "bucket_id": None, "checksum": bundle.encrypted_checksum or bundle.sha256,
            "created_at": iso(bundle.created_at), "deleted": False, "external_url": None, "id": bundle.id,
            "minUpdateVersion": bundle.min_update_version, "name": bundle.version, "native_packages": None,
            "owner_org": app.slug, "r2_path": blob_name(bundle.sha256), "session_key": bundle.session_key,
            "storage_provider": "otabox", "updated_at": iso(bundle.created_at),
            "user_id": _creator("bundle", bundle.id, "bundle.created")}


@bp.get("/bundle")
@accepts(query=PAGED)
def get_bundles():
    api_key("reader")
    args = query()
    app = _app(args["app_id"])
    rows, _ = bundles.list_bundles(app, *_page(args))
    return jsonify([bundle_json(app, b) for b in rows])


@bp.delete("/bundle")
@accepts(body=BUNDLE_DELETE)
def delete_bundles():
    """One version (each platform's bundle of it), or every bundle nothing uses: a bundle in a release
    history stays, as devices may run it (one version in a history: 409 bundle_in_use)."""
    api_key("admin")
    data = body()
    app = _app(data["app_id"], "admin")
    if "version" in data:
        doomed = list(Bundle.select().where((Bundle.app == app) & (Bundle.version == data["version"])))
        if not doomed:
            raise NotFound(f"no bundle of version {data['version']!r} in app {app.slug!r}")
        bundles.delete_bundles(app, doomed, actor(), box().store)
    else:
        bundles.delete_unused_bundles(app, actor(), box().store)
    return jsonify(OK)
