"""Release health (api/health.py)."""
from __future__ import annotations

from ..shapes import (
    APP_ID, array, AUTH, INTEGER, json_errors, nullable, obj, operation, path, RATE, ref, reply, STRING, TIMESTAMP)


def schemas() -> dict:
    return {
        "ReleaseHealth": obj({
            "releaseId": INTEGER, "launches": INTEGER, "crashes": INTEGER, "jsErrors": INTEGER, "failures": INTEGER,
            "devices": INTEGER, "launchedDevices": INTEGER, "servedDevices": INTEGER, "attestedDevices": INTEGER,
            "crashRate": RATE, "errorRate": RATE,
            "crashFreeRate": RATE, "custom": {"type": "object", "additionalProperties": INTEGER},
            "topErrors": array(obj({"message": STRING, "kind": STRING, "count": INTEGER, "lastSeen": TIMESTAMP}))}),
    }


def paths() -> dict:
    app = "/api/v1/apps/{app_id}"
    tag = "health and rollouts"
    return {
        f"{app}/releases/{{release_id}}/health": {
            "get": operation("A release's health: launches, crashes, JS errors, rates in percent of launches, "
                             "distinct devices and the top error messages", tag, {
                                 **reply(ref("ReleaseHealth")), **json_errors(*AUTH)},
                             [APP_ID, path("release_id", schema=INTEGER)]),
        },
        f"{app}/health/timeseries": {
            "get": operation("Hourly health figures of the app or of one release", tag, {
                **reply(obj({"releaseId": nullable(INTEGER), "days": INTEGER, "bucketSeconds": INTEGER,
                             "points": array(obj({"at": TIMESTAMP, "launches": INTEGER, "crashes": INTEGER,
                                                  "jsErrors": INTEGER, "failures": INTEGER, "devices": INTEGER,
                                                  "crashRate": nullable({"type": "number"}),
                                                  "errorRate": nullable({"type": "number"}),
                                                  "crashFreeRate": nullable({"type": "number"})}))})),
                **json_errors(400, *AUTH)},
                [APP_ID]),
        },
    }
