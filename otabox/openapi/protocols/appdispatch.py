"""AppDispatch: its management API at /v1/ota (X-Project) and health metrics (protocols/appdispatch/)."""
from __future__ import annotations

from ...protocols.appdispatch import management as appdispatch
from .native import HEALTH_REPORT
from ..shapes import (
    array, AUTH, body, BOOLEAN, CHANNEL, header, INTEGER, JSON, json_errors, nullable, obj, operation, path, PUBLIC,
    reply, REPORT_TAKEN, STRING, TIMESTAMP)


def paths() -> dict:
    tag = "appdispatch management"
    project = header(appdispatch.PROJECT_HEADER, {"type": "string", "minLength": 1, "maxLength": 200},
                     "The project (app) slug; missing or unknown: 400 project_required or 404 project_not_found",
                     required=True)
    errors = (400, *AUTH)
    build = obj({"id": INTEGER, "runtimeVersion": STRING, "platform": {"enum": ["ios", "android"]},
                 "message": STRING, "gitCommitHash": nullable(STRING), "gitBranch": nullable(STRING),
                 "expoConfig": nullable({"type": "object"}), "size": INTEGER, "sha256": STRING,
                 "version": {"type": "string", "description": "otabox's version of the bundle"},
                 "createdAt": TIMESTAMP})
    update = obj({"id": INTEGER, "buildId": nullable(INTEGER), "channel": STRING, "branchName": nullable(STRING),
                  "platform": nullable(STRING),
                  "runtimeVersion": nullable(STRING), "rolloutPercentage": INTEGER, "isCritical": BOOLEAN,
                  "releaseMessage": STRING, "groupId": nullable(STRING), "isEnabled": BOOLEAN, "isRollback": BOOLEAN,
                  "isEmbedded": BOOLEAN, "createdBy": STRING, "createdAt": TIMESTAMP})
    published = obj({"update": update, "groupId": STRING})
    channel = obj({"id": INTEGER, "name": STRING, "branchName": nullable(STRING), "rolloutBranchName": nullable(STRING),
                   "rolloutPercentage": INTEGER, "minRuntimeVersion": nullable(STRING), "createdAt": TIMESTAMP})
    webhook = obj({"id": INTEGER, "url": STRING, "events": array(STRING), "appId": INTEGER, "isActive": BOOLEAN,
                   "format": STRING, "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP})
    deleted = obj({"deleted": BOOLEAN, "id": INTEGER})
    branch = obj({"id": INTEGER, "name": STRING, "channels": array(STRING), "updateCount": INTEGER,
                  "createdAt": TIMESTAMP})
    override = obj({"id": INTEGER, "userId": STRING, "branchName": STRING, "note": STRING, "createdBy": STRING,
                    "createdAt": TIMESTAMP})
    build_id, update_id = path("build_id", schema=INTEGER), path("update_id", schema=INTEGER)
    webhook_id, channel_name = path("webhook_id", schema=INTEGER), CHANNEL
    form = {name: field.json_schema() for name, field in appdispatch.BUILD_FORM.fields.items()}
    form["expoConfig"] = {"type": "string", "contentMediaType": JSON, "description": "The Expo app config (JSON)"}
    assets = {"type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"},
              "description": "The files of an `npx expo export` dist, each named by its path in it (metadata.json "
                             "among them, or exactly one JavaScript/Hermes bundle)"}

    def op(summary, responses, parameters=(), request_body=None):
        """An operation of the project named by X-Project; its JSON body and query come from its @web.accepts."""
        return operation(summary, tag, responses, [project, *parameters], request_body)

    def listing(name, item):
        return reply(obj({name: array(item), "total": INTEGER}))

    audit_entry = obj({"id": INTEGER, "action": STRING, "entity_type": STRING, "entity_id": STRING, "actor": STRING,
                       "details": {"type": "object"}, "createdAt": TIMESTAMP})
    return {
        "/v1/ota/health-metrics": {"post": operation(
            "AppDispatch's health metrics (projectSlug is the app slug, updateUuid an Expo update id)",
            "appdispatch", {**REPORT_TAKEN, **json_errors(400, 404, 429)},
            request_body=body(obj({**HEALTH_REPORT, "projectSlug": {"type": "string", "minLength": 1, "maxLength": 200},
                                   "updateUuid": nullable({"type": "string", "maxLength": 200})},
                                  required=["projectSlug", "deviceId", "platform", "events"])), security=PUBLIC)},
        "/v1/ota/builds": {
            "get": op("The project's builds, newest first", {**listing("builds", build), **json_errors(*errors)}),
            "post": op("Upload a build (an Expo export)", {**reply(obj({"build": build}), 201),
                                                          **json_errors(*errors, 409, 413, 422, 503, 507)},
                       request_body=body(obj({**form, "assets": assets}, required=["runtimeVersion", "platform",
                                                                                  "assets"]),
                                         "multipart/form-data")),
        },
        "/v1/ota/builds/{build_id}": {
            "delete": op("Delete a build no update uses", {**reply(deleted), **json_errors(*errors, 409)}, [build_id]),
        },
        "/v1/ota/builds/{build_id}/publish": {
            "post": op("Publish a build to a channel, creating an update (a release)",
                       {**reply(published, 201), **json_errors(*errors)}, [build_id]),
        },
        "/v1/ota/updates": {
            "get": op("The project's updates, newest first", {**listing("updates", update), **json_errors(*errors)}),
            "post": op("Create an update: the same as publishing buildId",
                       {**reply(published, 201), **json_errors(*errors)}),
        },
        "/v1/ota/updates/{update_id}": {
            "patch": op("Change an update's rollout, criticality, message or whether it is served",
                        {**reply(obj({"update": update})), **json_errors(*errors)}, [update_id]),
            "delete": op("Delete an update (it stops being served)", {**reply(deleted), **json_errors(*errors)},
                         [update_id]),
        },
        "/v1/ota/updates/{update_id}/republish": {
            "post": op("Republish an update to channels (default: its own) with a new message",
                       {**reply(obj({"updates": array(update), "groupId": STRING}), 201), **json_errors(*errors, 409)},
                       [update_id]),
        },
        "/v1/ota/updates/{update_id}/history": {
            "get": op("What happened to an update, oldest first", {**reply(obj({"updateId": INTEGER, "history": array(
                {"type": "object"})})), **json_errors(*errors)}, [update_id]),
        },
        "/v1/ota/rollback": {
            "post": op("Roll a channel's devices of one platform and runtime version back (to the embedded update "
                       "unless rollbackToUpdateId)", {**reply(obj({"update": update}), 201),
                                                      **json_errors(*errors, 409)}),
        },
        "/v1/ota/channels": {
            "get": op("The project's channels", {**reply(obj({"channels": array(channel)})), **json_errors(*errors)}),
            "post": op("Create a channel serving branchName (default: the branch of its name, made if missing)",
                       {**reply(obj({"channel": channel}), 201), **json_errors(*errors, 409, 422)}),
        },
        "/v1/ota/channels/{name}": {
            "patch": op("Point a channel at a branch, split a share of its devices to another, set its minimum "
                        "runtime version", {
                **reply(obj({"channel": channel})), **json_errors(*errors)}, [channel_name]),
            "delete": op("Delete a channel with its history", {**reply(obj({"deleted": BOOLEAN, "name": STRING})),
                                                              **json_errors(*errors)}, [channel_name]),
        },
        "/v1/ota/branches": {
            "get": op("The project's branches", {**reply(obj({"branches": array(branch)})), **json_errors(*errors)}),
            "post": op("Create a branch", {**reply(obj({"branch": branch}), 201), **json_errors(*errors, 409, 422)}),
        },
        "/v1/ota/branches/{name}": {
            "delete": op("Delete a branch with its updates (409 while a channel serves it)", {
                **reply(obj({"deleted": BOOLEAN, "name": STRING})), **json_errors(*errors, 409)},
                [path("name", "The branch's name")]),
        },
        "/v1/ota/user-overrides": {
            "get": op("Users pinned to a branch", {**reply(obj({"overrides": array(override)})),
                                                   **json_errors(*errors)}),
            "post": op("Pin a user's devices to a branch (one override per user)", {
                **reply(obj({"override": override}), 201), **json_errors(*errors)}),
        },
        "/v1/ota/user-overrides/{override_id}": {
            "delete": op("Unpin a user", {**reply(deleted), **json_errors(*errors)}, [path("override_id", schema=INTEGER)]),
        },
        "/v1/ota/audit-log": {
            "get": op("The project's audit log, newest first",
                      {**reply(obj({"entries": array(audit_entry)})), **json_errors(*errors)}),
        },
        "/v1/ota/webhooks": {
            "get": op("The project's webhooks", {**reply(obj({"webhooks": array(webhook)})), **json_errors(*errors)}),
            "post": op("Add a webhook for the project's events (AppDispatch's or otabox's names)", {
                **reply(obj({"webhook": {"allOf": [webhook, obj({"secret": STRING})]}}), 201),
                **json_errors(*errors, 422)}),
        },
        "/v1/ota/webhooks/{webhook_id}": {
            "patch": op("Change a webhook (isActive: false pauses it)", {**reply(obj({"webhook": webhook})),
                                                                        **json_errors(*errors, 422)},
                        [webhook_id]),
            "delete": op("Delete a webhook", {**reply(deleted), **json_errors(*errors)}, [webhook_id]),
        },
        "/v1/ota/webhooks/{webhook_id}/deliveries": {
            "get": op("A webhook's recent deliveries", {**reply(obj({"deliveries": array({"type": "object"})})),
                                                       **json_errors(*errors)},
                      [webhook_id]),
        },
    }
