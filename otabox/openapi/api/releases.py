"""Releases (api/releases.py)."""
from __future__ import annotations

from ...core import releases
from ..shapes import (
    APP_ID, array, AUTH, BOOLEAN, INTEGER, json_errors, nullable, obj, operation, path, ref, reply, STRING, TIMESTAMP)


def schemas() -> dict:
    stats = obj({"checks": INTEGER, "downloads": INTEGER, "installs": INTEGER, "failures": INTEGER,
                 "actions": {"type": "object", "additionalProperties": INTEGER}})
    release = obj({
        "id": INTEGER, "channel": nullable(STRING), "branch": nullable(STRING),
        "kind": {"enum": list(releases.RELEASE_KINDS)},
        "label": STRING, "bundleId": nullable(INTEGER), "bundleVersion": STRING,
        "rollout": {"type": "integer", "minimum": 0, "maximum": 100}, "mandatory": BOOLEAN, "disabled": BOOLEAN,
        "notes": STRING, "actor": STRING, "promotedAt": TIMESTAMP,
        "targetVersions": nullable(STRING), "platform": nullable({"enum": ["ios", "android"]}),
        "runtimeVersion": nullable(STRING), "deleted": BOOLEAN, "groupId": nullable(STRING),
        "originalLabel": nullable(STRING), "originalChannel": nullable(STRING), "stats": stats,
        "channelVersion": nullable(INTEGER)})
    return {
        "Release": release,
        "ReleaseChange": obj({"release": ref("Release"), "previousRelease": nullable(ref("Release"))}),
        "ReleaseList": obj({"releases": array(ref("Release")), "groupId": STRING}),
    }


def paths() -> dict:
    app = "/api/v1/apps/{app_id}"
    tag = "management"
    release_id = path("release_id", schema=INTEGER)
    return {
        f"{app}/releases": {
            "get": operation("Release history, newest first (deleted releases only when asked)", tag, {
                **reply(obj({"releases": array(ref("Release")), "total": INTEGER})), **json_errors(400, *AUTH)},
                [APP_ID]),
            "post": operation("Release a bundle to a channel (the app's default channel when none is named; under "
                              "a rollout policy with policyId)", tag, {
                **reply({"allOf": [ref("ReleaseChange"), obj({"groupId": STRING,
                                                              "execution": nullable(ref("RolloutExecution"))},
                                                             required=["groupId"])]}, 201),
                **json_errors(400, *AUTH)}, [APP_ID]),
        },
        f"{app}/releases/{{release_id}}": {
            "get": operation("A release with its stats", tag, {**reply(ref("Release")), **json_errors(*AUTH)},
                             [APP_ID, release_id]),
            "patch": operation("Change a release's rollout, mandatory flag, notes, disabled flag or target", tag, {
                **reply(ref("Release")), **json_errors(400, *AUTH, 409)}, [APP_ID, release_id]),
            "delete": operation("Delete a release: disabled and hidden from history lists", tag, {
                **reply(ref("Release")), **json_errors(*AUTH)}, [APP_ID, release_id]),
        },
        f"{app}/releases/{{release_id}}/history": {
            "get": operation("What happened to a release, oldest first", tag, {
                **reply(obj({"releaseId": INTEGER, "events": array(obj({
                    "type": STRING, "at": TIMESTAMP, "actor": STRING, "details": {"type": "object"}}))})),
                **json_errors(*AUTH)}, [APP_ID, release_id]),
        },
        f"{app}/releases/{{release_id}}/transfer": {
            "get": operation("Bytes a release's Expo launch assets cost so far: downloads and bytes in full and as "
                             "patches, and the bytes the patches saved; the patches made to its bundle per base",
                             tag, {
                **reply(obj({"releaseId": INTEGER, "fullDownloads": INTEGER, "fullBytes": INTEGER,
                             "patchedDownloads": INTEGER, "patchedBytes": INTEGER, "savedBytes": INTEGER,
                             "patches": array(obj({
                                 "targetSha256": STRING, "baseSha256": STRING, "base": nullable(STRING),
                                 "format": {"enum": ["bsdiff", "otabox-patch-v1"]}, "size": INTEGER,
                                 "compressedFullSize": INTEGER, "skipped": STRING},
                                 required=["targetSha256", "baseSha256", "base"]))})),
                **json_errors(*AUTH)}, [APP_ID, release_id]),
        },
        f"{app}/releases/{{release_id}}/republish": {
            "post": operation("Release the same bundle again to several channels (one group)", tag, {
                **reply(ref("ReleaseList"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID, release_id]),
        },
    }
