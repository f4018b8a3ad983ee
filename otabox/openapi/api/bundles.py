"""Bundles and two-step uploads (api/bundles.py)."""
from __future__ import annotations

from ...core import bundles
from ..shapes import (
    APP_ID, array, AUTH, BLOB, body, BOOLEAN, INTEGER, JSON, json_errors, nullable, obj, operation, path, PUBLIC, ref,
    reply, SIGNED, STRING, TIMESTAMP)


def schemas() -> dict:
    bundle = obj({
        "id": INTEGER, "version": STRING, "platform": {"enum": list(bundles.PLATFORMS)},
        "format": {"enum": list(bundles.FORMATS)}, "sha256": STRING, "size": INTEGER, "signature": STRING,
        "minNativeBuild": nullable(INTEGER), "targetVersions": nullable(STRING), "notes": STRING,
        "packageHash": nullable(STRING), "runtimeVersion": nullable(STRING), "encrypted": BOOLEAN,
        "keyId": nullable(STRING), "minUpdateVersion": nullable(STRING), "message": STRING,
        "gitCommitHash": nullable(STRING), "gitBranch": nullable(STRING), "expoConfig": nullable({"type": "object"}),
        "createdAt": TIMESTAMP})
    return {"Bundle": bundle, "NumberedBundle": {"allOf": [ref("Bundle"), obj({"channelVersions": array(obj({
        "channel": STRING, "version": INTEGER, "mandatory": BOOLEAN, "active": BOOLEAN}))})]}}


def paths() -> dict:
    app = "/api/v1/apps/{app_id}"
    tag = "management"
    fields = {"version": {"type": "string", "examples": ["1.0.1"]},
              "platform": {"enum": ["ios", "android", "all"]}, "format": {"enum": ["zip", "expo"]},
              "minNativeBuild": {"type": "integer", "minimum": 0}, "targetVersions": STRING, "notes": STRING,
              "runtimeVersion": STRING, "sessionKey": STRING, "encryptedChecksum": STRING, "keyId": STRING,
              "minUpdateVersion": STRING, "message": {"type": "string", "maxLength": 10000},
              "gitCommitHash": {"type": "string", "maxLength": 100}, "gitBranch": {"type": "string", "maxLength": 255},
              "expoConfig": {"type": "object", "description": "The Expo app config (format=expo)"}}
    bundle_id = path("bundle_id", schema=INTEGER)
    deleted = obj({"deleted": BOOLEAN, "ids": array(INTEGER)})
    embedded = obj({"id": INTEGER, "platform": {"enum": ["ios", "android"]}, "runtimeVersion": nullable(STRING),
                    "nativeVersion": nullable(STRING), "updateId": nullable(STRING), "sha256": STRING,
                    "size": INTEGER, "createdAt": TIMESTAMP})
    return {
        f"{app}/bundles": {
            "get": operation("The app's bundles, newest first", tag, {
                **reply(obj({"bundles": array(ref("NumberedBundle")), "total": INTEGER})), **json_errors(400, *AUTH)},
                [APP_ID]),
            "post": operation("Upload a bundle (a zip, or an Expo export zip)", tag, {
                **reply(ref("Bundle"), 201), **json_errors(400, *AUTH, 409, 413, 422, 503, 507)}, [APP_ID],
                body(obj({"file": {"type": "string", "contentMediaType": "application/zip"}, **fields,
                          "minNativeBuild": {"type": "string", "pattern": "^[0-9]*$"},
                          "expoConfig": {"type": "string", "contentMediaType": JSON}},
                         required=["file", "version"]), "multipart/form-data")),
            "delete": operation("Delete every bundle no release history, device pin or channel number uses", tag, {
                **reply(deleted), **json_errors(400, *AUTH, 409)},
                [APP_ID]),
        },
        f"{app}/bundles/initiate": {
            "post": operation("Start a two-step upload; PUT the file to uploadUrl, then finalize", tag, {
                **reply(obj({"uploadId": STRING, "presignedUrl": STRING, "uploadUrl": STRING, "storageKey": STRING,
                             "expiresAt": TIMESTAMP}), 201),
                **json_errors(400, *AUTH, 409, 413)}, [APP_ID]),
        },
        f"{app}/bundles/finalize": {
            "post": operation("Turn a completed two-step upload into a bundle", tag, {
                **reply(ref("Bundle"), 201), **json_errors(400, *AUTH, 409, 410, 422, 503, 507)}, [APP_ID]),
        },
        f"{app}/embedded-bundles": {
            "get": operation("The bundles embedded in store binaries, listed and per runtime and native version", tag, {
                **reply(obj({"embeddedBundles": array(embedded), "runtimeVersions": array(obj({
                    "runtimeVersion": STRING, "embeddedBundles": array(embedded)})), "nativeVersions": array(obj({
                        "nativeVersion": STRING, "embeddedBundles": array(embedded)}))})),
                **json_errors(400, *AUTH)}, [APP_ID]),
            "post": operation("Record the bundle inside a store binary, a patch base for devices that never took an "
                              "update", tag, {**reply(embedded, 201), **json_errors(400, *AUTH, 413, 422, 503, 507)},
                              [APP_ID], body(obj({
                                  "file": {"type": "string", "contentMediaType": "application/octet-stream"}},
                                  required=["file"]), "multipart/form-data")),
        },
        f"{app}/bundles/{{bundle_id}}": {
            "get": operation("A bundle", tag, {**reply(ref("Bundle")), **json_errors(*AUTH)}, [APP_ID, bundle_id]),
            "delete": operation("Delete a bundle no release uses, by id or by version", tag, {
                **reply({"allOf": [deleted, obj({"id": INTEGER})]}), **json_errors(400, *AUTH, 409)},
                [APP_ID, path("bundle_id", "A bundle id, or a version (each platform's bundle of it)")]),
        },
        "/uploads/{upload_id}": {
            "put": operation("The body of a two-step upload (the signed URL is the permission; it takes one body, a "
                             "second PUT gets 409)", "transfer", {
                **reply(obj({"uploadId": STRING, "received": {"const": True}})),
                **json_errors(403, 404, 409, 410, 413, 422, 507)}, [path("upload_id"), *SIGNED],
                body(BLOB, "application/octet-stream"), security=PUBLIC),
        },
    }
