"""otabox's own clients: update checks, events, health reports (protocols/native/)."""
from __future__ import annotations

from ...core import devices
from ...core import health
from ...core.decide import BLOCKED, REASONS
from ..shapes import (
    APP_ID, array, body, BOOLEAN, CLIENT_KEY, INTEGER, json_errors, nullable, obj, operation, query, ref, reply,
    REPORT_TAKEN, STRING, TIMESTAMP)


HEALTH_REPORT = {"deviceId": {"type": "string", "minLength": 1, "maxLength": 200},
                 "platform": {"type": "string", "minLength": 1, "maxLength": 50},
                 "channel": {"type": "string", "maxLength": 200},
                 "runtimeVersion": {"type": "string", "maxLength": 200},
                 "events": {**array(ref("HealthEvent")), "minItems": 1, "maxItems": 500}}
"""What every health report carries (otabox's clients and AppDispatch's)."""


def schemas() -> dict:
    return {
        "HealthEvent": obj({"type": {"enum": list(health.EVENT_TYPES)},
                            "name": {"type": "string", "maxLength": 100}, "message": {"type": "string",
                                                                                      "maxLength": 8000},
                            "count": {"type": "integer", "minimum": 1, "maximum": 1000000},
                            "flagStates": {"type": "object", "maxProperties": 50}}, required=["type"]),
    }


def paths() -> dict:
    tag = "native client"
    patch = obj({"url": STRING, "expiresAt": TIMESTAMP, "size": INTEGER, "sha256": STRING, "baseSha256": STRING,
                 "format": {"const": "otabox-patch-v1"}})
    patch["description"] = "A patch archive from the bundle the device runs (README, Native patches)"
    offer = obj({"id": INTEGER, "version": STRING, "sha256": STRING, "size": INTEGER, "url": STRING,
                 "expiresAt": TIMESTAMP, "signature": STRING, "mandatory": BOOLEAN, "notes": STRING, "patch": patch},
                required=["id", "version", "sha256", "size", "url", "expiresAt", "signature", "mandatory", "notes"])
    signed = obj({"app": STRING, "channel": nullable(STRING), "platform": nullable({"enum": ["ios", "android"]}),
                  "version": nullable(STRING), "sha256": nullable(STRING), "releaseId": nullable(INTEGER),
                  "sequence": INTEGER, "issuedAt": TIMESTAMP, "expiresAt": TIMESTAMP, "patchSha256": STRING},
                 required=["app", "channel", "platform", "version", "sha256", "releaseId", "sequence", "issuedAt",
                           "expiresAt"])
    check_reply = obj({"updateAvailable": BOOLEAN, "bundle": offer, "reason": {"enum": list(REASONS)},
                       "revertToBuiltin": {"const": True},
                       "blocked": {"enum": list(BLOCKED)},
                       "signed": signed, "signedSignature": {"type": "string", "description": (
                           "Base64 Ed25519 signature (GET /api/v1/signing-key) over the canonical JSON of `signed`: "
                           "keys sorted, no spaces, UTF-8")}},
                      required=["updateAvailable", "signed", "signedSignature"])
    event = obj({"deviceId": {"type": "string", "minLength": 1, "maxLength": 200},
                 "type": {"enum": list(devices.EVENT_TYPES)},
                 "bundleId": nullable(INTEGER), "message": STRING}, required=["deviceId", "type"])
    return {
        "/api/v1/apps/{app_id}/check": {
            "get": operation("Ask whether an update is available", tag, {
                **reply(check_reply), **json_errors(400, 401, 404, 429)},
                [APP_ID, query("deviceId", {"type": "string", "maxLength": 200}),
                 query("platform", {"enum": ["ios", "android"]}),
                 query("version", description="The running bundle's version; empty or 'builtin' for the binary's"),
                 query("nativeVersion"), query("nativeBuild", {"type": "string", "pattern": "^[0-9]*$"}),
                 query("channel"), query("currentSha256", {"type": "string", "maxLength": 64},
                                         "The SHA-256 of the running bundle's zip (a patch from it may be offered)"),
                 query("userId", {"type": "string", "maxLength": 200},
                       "The user of the device (a user override pins the user to a branch)")],
                security=CLIENT_KEY),
        },
        "/api/v1/apps/{app_id}/events": {
            "post": operation("Report downloads, installs, failures and rollbacks", tag, {
                **reply(obj({"status": {"const": "ok"}, "stored": INTEGER})), **json_errors(400, 401, 404, 429)},
                [APP_ID], body({"oneOf": [event, {**array(event), "minItems": 1, "maxItems": 1000}]}),
                security=CLIENT_KEY),
        },
        "/api/v1/apps/{app_id}/health": {"post": operation(
            "Report health events (launches, crashes, JS errors, custom)", "native client", {
                **REPORT_TAKEN, **json_errors(400, 401, 404, 429)}, [APP_ID],
            body(obj({**HEALTH_REPORT, "bundleId": INTEGER, "bundleVersion": {"type": "string", "maxLength": 200}},
                     required=["deviceId", "platform", "events"])), security=CLIENT_KEY)},
    }
