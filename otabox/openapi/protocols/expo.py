"""Expo Updates: manifests, launch assets, rollback (protocols/expo/)."""
from __future__ import annotations

from ...protocols.expo import export
from ...protocols.expo import updates as expo_updates
from ..shapes import (
    APP_ID, AUTH, BLOB, body, header, INTEGER, json_errors, obj, operation, path, PUBLIC, ref, reply, SIGNED, STRING)


PLATFORM = {"enum": list(export.PLATFORMS)}


def paths() -> dict:
    bounded = {"type": "string", "maxLength": 200}
    headers = [header("expo-protocol-version", {"enum": [str(v) for v in expo_updates.PROTOCOL_VERSIONS]}),
               header("expo-platform", PLATFORM, required=True),
               header("expo-runtime-version", {**bounded, "minLength": 1}, required=True),
               header("expo-channel-name", bounded), header("eas-client-id", bounded),
               header("expo-device-id", bounded, "The device id for rollouts (AppDispatch's SDK); else EAS-Client-ID"),
               header("expo-current-update-id", bounded), header("expo-embedded-update-id", bounded),
               header("expo-recent-failed-update-ids", description="A structured-fields list of strings"),
               header("expo-expect-signature", description="A structured-fields dictionary (sig, keyid, alg)"),
               header("accept")]
    multipart = {"200": {"description": "A manifest or a directive (parts named manifest/directive, extensions); "
                                        "the manifest alone with accept: application/expo+json or application/json",
                         "content": {"multipart/mixed": {"schema": {"type": "object"}},
                                     "application/expo+json": {"schema": {"type": "object"}},
                                     "application/json": {"schema": {"type": "object"}}}}}
    rollback = obj({"runtimeVersion": {"type": "string", "minLength": 1, "maxLength": 200},
                    "platform": PLATFORM, "channel": {"type": "string", "minLength": 1},
                    "channelName": {"type": "string", "minLength": 1},
                    "rollbackToUpdateId": {"anyOf": [STRING, INTEGER],
                                           "description": "An Expo update id, or a release id"}},
                   required=["runtimeVersion", "platform"])
    return {
        "/expo/{app_id}/manifest": {"get": operation("Expo Updates manifest request", "expo", {
            **multipart, **reply(status=204, description="No update (protocol 0)"),
            **json_errors(400, 404, 406, 409, 429)}, [APP_ID, *headers], security=PUBLIC)},
        "/dl/expo/{app_id}/{sha256}": {"get": operation(
            "An Expo launch asset by signed URL (from a manifest): a BSDIFF40 patch from the update the device "
            "runs (226 IM Used, `IM: bsdiff`, `expo-base-update-id`) when it asks with `A-IM: bsdiff` and one "
            "was made, else the full file (Range and ETag supported)", "expo", {
                **reply(BLOB, media_type="*/*"), **reply(BLOB, 206, "*/*"),
                "226": {"description": "A BSDIFF40 patch", "content": {"application/octet-stream": {"schema": BLOB}}},
                **reply(status=304), **json_errors(403, 404, 416)},
            [APP_ID, path("sha256", "The launch asset's SHA-256 in hex"), *SIGNED, header("Range"), header("a-im"),
             header("expo-platform", PLATFORM), header("expo-current-update-id", bounded),
             header("expo-requested-update-id", bounded), header("expo-embedded-update-id", bounded)],
            security=PUBLIC)},
        "/api/v1/apps/{app_id}/rollback": {"post": operation(
            "Roll one platform and runtime version of a channel back to the embedded update or to an update",
            "expo", {**reply(obj({"release": ref("Release")}), 201), **json_errors(400, *AUTH, 409)}, [APP_ID],
            body(rollback))},
    }
