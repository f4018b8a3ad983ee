"""Koolbase: the Flutter SDK's check and the OTA dashboard API (protocols/koolbase/)."""
from __future__ import annotations

from ...protocols.koolbase import management as koolbase_management
from ..shapes import (
    array, AUTH, body, BOOLEAN, header, INTEGER, json_errors, obj, operation, path, query, reply, STRING, TIMESTAMP)


def paths() -> dict:
    return {**_check_paths(), **_management_paths()}


def _check_paths() -> dict:
    update = obj({"has_update": {"const": True}, "version": INTEGER, "checksum": STRING, "mandatory": BOOLEAN,
                  "download_url": STRING, "release_notes": STRING, "file_size": INTEGER})
    return {"/v1/sdk/ota/check": {"get": operation("Ask whether an update is available (Flutter)", "flutter", {
        **reply({"oneOf": [update, obj({"has_update": {"const": False}, "reason": {"const": "build_number_required"}},
                                       required=["has_update"])]}), **json_errors(400, 401, 429)},
        [query("channel", {"type": "string", "maxLength": 200}),
         query("build_number", {"type": "string", "pattern": "^[0-9]{0,18}$"},
               "The binary's build number (for bundles with minNativeBuild)"),
         query("native_build", {"type": "string", "pattern": "^[0-9]{0,18}$"}, "Another name for build_number"),
         query("version", {"type": "string", "pattern": "^[0-9]{0,9}$"},
               "The integer of the running release; 0 or empty for the binary's bundle"),
         query("platform", {"enum": ["ios", "android"]}), query("device_id", {"type": "string", "maxLength": 200}),
         header("x-device-id", {"type": "string", "maxLength": 200})], security=[{"flutterKey": []}])}}


def _management_paths() -> dict:
    tag = "koolbase management"
    project = path("project_id", "The app's numeric id or its slug")
    bundle_id = path("bundle_id", "A bundle's id (as the list gives it)")
    bundle = obj({"id": STRING, "project_id": STRING, "channel": STRING, "version": INTEGER,
                  "checksum": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}, "storage_path": STRING,
                  "file_size": INTEGER, "mandatory": BOOLEAN, "active": BOOLEAN, "release_notes": STRING,
                  "created_at": TIMESTAMP, "updated_at": TIMESTAMP})
    form = koolbase_management.UPLOAD.json_schema()
    form["properties"] = {"bundle": {"type": "string", "contentMediaType": "application/zip"}, **form["properties"]}
    form["required"] = ["bundle"]
    prefix = "/v1/projects/{project_id}/ota"
    return {
        f"{prefix}/upload": {"post": operation(
            "Upload a bundle to a channel under its next whole-number version (inactive until activated)", tag, {
                **reply(bundle, 201), **json_errors(400, *AUTH, 409, 413, 422, 503, 507)}, [project],
            body(form, "multipart/form-data"))},
        f"{prefix}/bundles": {"get": operation("The app's bundles with their channel versions, newest first", tag, {
            **reply(array(bundle)), **json_errors(400, *AUTH)}, [project])},
        f"{prefix}/bundles/{{bundle_id}}/activate": {"post": operation(
            "Make the bundle what its channel serves (a release of it)", tag, {
                **reply(bundle), **json_errors(400, *AUTH)}, [project, bundle_id])},
        f"{prefix}/bundles/{{bundle_id}}": {
            "patch": operation("Set (or toggle) the bundle's mandatory flag", tag, {
                **reply(bundle), **json_errors(400, *AUTH)}, [project, bundle_id]),
            "delete": operation("Delete the bundle's channel version, and the bundle and its file when nothing "
                                "else uses them", tag, {**reply(status=204), **json_errors(400, *AUTH, 409)},
                                [project, bundle_id]),
        },
    }
