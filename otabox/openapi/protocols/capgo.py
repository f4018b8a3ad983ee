"""capacitor-updater's protocol and Capgo's public API (protocols/capgo/)."""
from __future__ import annotations

from ...protocols.capgo import management as capgo_management
from ...protocols.capgo import updates as capgo_updates
from ..shapes import (
    array, AUTH, body, BOOLEAN, capgo_errors, INTEGER, json_errors, nullable, obj, operation, PUBLIC, query, ref,
    reply, STRING, TIMESTAMP)


def schemas() -> dict:
    text = {"type": "string", "maxLength": 256}
    device_info = obj({
        **{name: text for name in ("app_id", "device_id", "platform", "custom_id", "version_build",
                                   "version_code", "version_os", "version_name", "old_version_name",
                                   "plugin_version", "install_source", "defaultChannel", "key_id")},
        "platform": {"enum": list(capgo_updates.PLATFORMS)}, "is_emulator": BOOLEAN, "is_prod": BOOLEAN},
        required=["app_id", "device_id", "platform"])
    stat = {**device_info, "properties": {**device_info["properties"], "action": text, "metadata": {"type": "object"}},
            "required": ["app_id", "device_id", "action"]}
    manifest_entry = obj({"file_name": STRING, "file_hash": STRING, "download_url": STRING})
    return {
        "CapgoDeviceInfo": device_info,
        "CapgoStat": stat,
        "CapgoRefusal": obj({"kind": {"enum": list(capgo_updates.REFUSAL_KINDS)}, "error": STRING,
                             "message": STRING, "version": STRING, "old": STRING, "major": BOOLEAN},
                            required=["kind", "error", "message"]),
        "CapgoUpdate": obj({"version": STRING, "url": STRING, "checksum": STRING, "session_key": STRING,
                            "manifest": array(manifest_entry), "message": STRING},
                           required=["version", "url", "checksum"]),
        "CapgoBuiltin": obj({"version": {"const": "builtin"}, "message": STRING}),
    }


def paths() -> dict:
    return {**_device_paths(), **_management_paths()}


def _device_paths() -> dict:
    tag = "capacitor-updater"
    errors = (400, 404, 429)
    channel_self = "/capgo/channel_self"
    info = ref("CapgoDeviceInfo")
    with_channel = {"allOf": [info, obj({"channel": STRING})]}
    info_query = [query("app_id", required=True), query("device_id"), query("platform"),
                  query("is_emulator", {"enum": ["true", "false"]}), query("is_prod", {"enum": ["true", "false"]}),
                  query("version_name"), query("version_build"), query("defaultChannel")]
    status = obj({"status": {"const": "ok"}, "message": STRING})
    return {
        "/capgo/updates": {"post": operation("Ask for an update", tag, {
            **reply({"anyOf": [ref("CapgoUpdate"), ref("CapgoRefusal"), ref("CapgoBuiltin")]}),
            **capgo_errors(*errors)}, request_body=body(info), security=PUBLIC)},
        "/capgo/stats": {"post": operation("Report plugin events", tag, {
            **reply(obj({"status": {"const": "ok"}})), **capgo_errors(*errors)},
            request_body=body({"oneOf": [ref("CapgoStat"), {**array(ref("CapgoStat")), "minItems": 1,
                                                              "maxItems": 1000}]}), security=PUBLIC)},
        channel_self: {
            "post": operation("setChannel: assign the device to a channel that allows it", tag, {
                **reply(status), **capgo_errors(400, 403, 404, 429)}, request_body=body(with_channel),
                security=PUBLIC),
            "put": operation("getChannel: the device's channel", tag, {
                **reply(obj({"status": {"enum": ["default", "override"]}, "channel": STRING, "allowSet": BOOLEAN,
                             "message": STRING})), **capgo_errors(*errors)}, request_body=body(info),
                security=PUBLIC),
            "get": operation("listChannels: channels a device may choose", tag, {
                **reply(array(obj({"id": INTEGER, "name": STRING, "public": BOOLEAN, "allow_self_set": BOOLEAN}))),
                **capgo_errors(*errors)}, info_query, security=PUBLIC),
            "delete": operation("unsetChannel: forget the device's own choice", tag, {
                **reply(status), **capgo_errors(*errors)}, info_query, body(info, required=False),
                security=PUBLIC),
        },
    }


def _management_paths() -> dict:
    tag = "capgo management"
    key = [{"capgoKey": []}]
    errors = json_errors(400, *AUTH)
    status = obj({"status": {"const": "ok"}})
    version = obj({"id": {"type": ["integer", "null"]}, "name": STRING})
    channel = obj({"id": INTEGER, "created_at": TIMESTAMP, "name": STRING, "app_id": STRING, "version": version,
                   "created_by": STRING, "updated_at": TIMESTAMP, "public": BOOLEAN,
                   "disableAutoUpdateUnderNative": BOOLEAN,
                   "disableAutoUpdate": BOOLEAN,
                   "disable_auto_update": {"enum": [*capgo_management.DISABLE_AUTO_UPDATE, "patch"]},
                   "allow_emulator": BOOLEAN, "allow_dev": BOOLEAN, "allow_device_self_set": BOOLEAN, "ios": BOOLEAN,
                   "android": BOOLEAN})
    device = obj({"created_at": TIMESTAMP, "updated_at": TIMESTAMP, "device_id": STRING, "custom_id": STRING,
                  "version": version, "app_id": STRING, "platform": {"enum": ["ios", "android", None]},
                  "plugin_version": STRING, "os_version": nullable(STRING), "version_build": STRING,
                  "is_prod": BOOLEAN, "is_emulator": BOOLEAN})
    text = nullable(STRING)
    bundle = obj({"app_id": STRING, "bucket_id": {"type": "null"}, "checksum": STRING, "created_at": TIMESTAMP,
                  "deleted": BOOLEAN, "external_url": {"type": "null"}, "id": INTEGER, "minUpdateVersion": text,
                  "name": STRING, "native_packages": {"type": "null"}, "owner_org": STRING, "r2_path": STRING,
                  "session_key": text, "storage_provider": STRING, "updated_at": TIMESTAMP, "user_id": text})

    def read(summary, schema, item, one):
        return operation(summary, tag, {**reply({"anyOf": [array(item), item]} if one else array(item)),
                                        **errors}, security=key)

    def change(summary, schema, conflict=False):
        return operation(summary, tag, {**reply(status), **errors, **(json_errors(409) if conflict else {})},
                         security=key)

    return {
        "/channel": {
            "post": change("Create a channel or change its settings (and the bundle it serves)",
                           capgo_management.CHANNEL_SET, conflict=True),
            "get": read("The app's channels, 50 a page (or one, with channel)", capgo_management.CHANNEL_QUERY,
                        channel, True),
            "delete": change("Delete a channel", capgo_management.CHANNEL_DELETE),
        },
        "/device": {
            "post": change("Pin a device to a bundle and/or a channel", capgo_management.DEVICE_LINK, conflict=True),
            "get": read("The app's devices, 50 a page (or one, with device_id)", capgo_management.DEVICE_QUERY,
                        device, True),
            "delete": change("Remove a device's channel and bundle overrides", capgo_management.DEVICE_UNLINK),
        },
        "/bundle": {
            "get": read("The app's bundles, 50 a page", capgo_management.PAGED, bundle, False),
            "delete": change("Delete a version's bundles, or every bundle nothing uses", capgo_management.BUNDLE_DELETE,
                             conflict=True),
        },
    }
