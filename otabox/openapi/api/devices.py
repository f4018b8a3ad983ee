"""Devices and their pins (api/devices.py)."""
from __future__ import annotations

from ..shapes import (
    APP_ID, array, AUTH, BOOLEAN, INTEGER, json_errors, nullable, obj, operation, path, ref, reply, STRING, TIMESTAMP)


def schemas() -> dict:
    device = obj({
        "deviceId": STRING, "platform": STRING, "nativeVersion": STRING, "nativeBuild": STRING,
        "bundleVersion": STRING, "channel": STRING, "firstSeen": TIMESTAMP, "lastSeen": TIMESTAMP,
        "override": obj({"channel": nullable(STRING), "bundleId": nullable(INTEGER)}),
        "selfAssignedChannel": nullable(STRING), "customId": nullable(STRING), "pluginVersion": nullable(STRING),
        "osVersion": nullable(STRING), "isProd": nullable(BOOLEAN), "isEmulator": nullable(BOOLEAN)})
    return {"Device": device}


def paths() -> dict:
    app = "/api/v1/apps/{app_id}"
    tag = "management"
    device_id = path("device_id", schema={"type": "string", "minLength": 1, "maxLength": 200})
    return {
        f"{app}/devices": {
            "get": operation("Devices seen by the app, most recent first", tag, {
                **reply(obj({"devices": array(ref("Device")), "total": INTEGER})), **json_errors(400, *AUTH)},
                [APP_ID]),
        },
        f"{app}/devices/{{device_id}}": {
            "get": operation("A device", tag, {**reply(ref("Device")), **json_errors(*AUTH)}, [APP_ID, device_id]),
            "put": operation("Pin a device to a channel and/or a bundle", tag, {
                **reply(ref("Device")), **json_errors(400, *AUTH)}, [APP_ID, device_id]),
        },
        f"{app}/devices/{{device_id}}/override": {
            "delete": operation("Remove a device's pin", tag, {**reply(ref("Device")), **json_errors(*AUTH)},
                                [APP_ID, device_id]),
        },
    }
