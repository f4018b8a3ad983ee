"""AppDispatch: its management API at /v1/ota (X-Project), health metrics and evaluation counts
(protocols/appdispatch/)."""
from __future__ import annotations

from ...protocols.appdispatch import management as appdispatch
from .native import HEALTH_REPORT
from ...core.flag_eval import FLAG_TYPES, RULE_TYPES
from ...core.telemetry import KEPT_TYPES
from ..shapes import (
    array, AUTH, body, BOOLEAN, CHANNEL, DELETED, header, INTEGER, JSON, json_errors, nullable, obj, operation, path,
    PUBLIC, ref, reply, REPORT_TAKEN, STRING, TIMESTAMP)


def _build_paths() -> dict:
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
    deleted = DELETED
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
            "delete": op("Delete a channel with its history (wasDefault: the app has no default channel now, "
                         "the warning says what that means)", {
                **reply(obj({"deleted": BOOLEAN, "name": STRING, "wasDefault": BOOLEAN, "warning": STRING},
                            ["deleted", "name", "wasDefault"])), **json_errors(*errors)}, [channel_name]),
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


def paths() -> dict:
    return {**_build_paths(), **_flag_paths(), **_telemetry_paths()}


def _op(summary: str, responses: dict, parameters=()) -> dict:
    """An operation of the project named by X-Project (as in _build_paths), with otabox's errors; its
    JSON body and query come from its @web.accepts."""
    project = header(appdispatch.PROJECT_HEADER, {"type": "string", "minLength": 1, "maxLength": 200},
                     "The project (app) slug; missing or unknown: 400 project_required or 404 project_not_found",
                     required=True)
    return operation(summary, "appdispatch management", {**responses, **json_errors(400, *AUTH)},
                     [project, *parameters])


def _flag_paths() -> dict:
    """Flags, segments, contexts, rollout policies and executions (flags.py, segments.py, policies.py),
    and the public flag-evaluations counts (evaluations.py)."""
    op = _op
    flag_id, rule_id = path("flag_id", schema=INTEGER), path("rule_id", schema=INTEGER)
    segment_id, context_id = path("segment_id", schema=INTEGER), path("context_id", schema=INTEGER)
    policy_id, execution_id = path("policy_id", schema=INTEGER), path("execution_id", schema=INTEGER)
    one_flag = reply(obj({"flag": ref("Flag")}))
    one_rule = obj({"rule": ref("FlagRule")})
    deleted = reply(DELETED)
    execution = reply(obj({"execution": ref("RolloutExecution")}))
    rates = {"crashRate": nullable({"type": "number"}), "errorRate": nullable({"type": "number"}),
             "crashFreeRate": nullable({"type": "number"})}
    counts = obj({"projectSlug": {"type": "string", "minLength": 1, "maxLength": 200},
                  "deviceId": {"type": "string", "maxLength": 200}, "channel": STRING,
                  "evaluations": {**array(obj({"flagKey": STRING,
                                               "variant": {"type": "string", "description": "A variation's name"},
                                               "value": {"description": "Or the value it served"},
                                               "count": {"type": "integer", "minimum": 1, "maximum": 100_000}},
                                              required=["flagKey"])), "maxItems": 500}},
                 required=["projectSlug", "evaluations"])
    paths = {
        "/v1/ota/flags": {
            "get": op("The project's flags with variations, channel settings and rules (values typed)",
                      reply(obj({"flags": array(ref("Flag"))}))),
            "post": op(f"Create a flag ({', '.join(FLAG_TYPES)}); values typed or as the document writes them "
                       "(\"true\", \"42\", JSON text)", {**reply(obj({"flag": ref("Flag")}), 201),
                                                            **json_errors(409)}),
        },
        "/v1/ota/flags/{flag_id}": {
            "get": op("A flag", one_flag, [flag_id]),
            "patch": op("Change a flag", {**one_flag, **json_errors(409)}, [flag_id]),
            "delete": op("Delete a flag with its rules and counts", deleted, [flag_id]),
        },
        "/v1/ota/flags/{flag_id}/rules": {
            "post": op(f"Add a targeting rule ({', '.join(RULE_TYPES)})", {**reply(one_rule, 201),
                                                                          **json_errors(409)}, [flag_id]),
        },
        "/v1/ota/flags/{flag_id}/rules/{rule_id}": {
            "patch": op("Change a rule", {**reply(one_rule), **json_errors(409)}, [flag_id, rule_id]),
            "delete": op("Delete a rule", deleted, [flag_id, rule_id]),
        },
        "/v1/ota/flags/{flag_id}/variations/{variation_id}": {
            "patch": op("Rename a variation or change its value", {**one_flag, **json_errors(409)},
                        [flag_id, path("variation_id", schema=INTEGER)]),
        },
        "/v1/ota/flags/{flag_id}/env/{name}": {
            "patch": op("A flag's switch and default value in one channel (defaultValue: a variation's value, or "
                        "its name)", {**one_flag, **json_errors(409)}, [flag_id, CHANNEL]),
        },
        "/v1/ota/flags/{flag_id}/evaluations": {
            "get": op("Evaluations per day and variant", reply(obj({
                "flagId": INTEGER, "key": STRING, "days": INTEGER, "since": STRING,
                "evaluations": array(obj({"day": STRING, "variant": STRING, "count": INTEGER})),
                "totals": {"type": "object", "additionalProperties": INTEGER}})), [flag_id]),
        },
        "/v1/ota/flags/{flag_id}/health": {
            "get": op("Flag-wide error rate, crash-free percentage and affected devices, and per variation",
                      reply(obj({"flagId": INTEGER, "key": STRING, "days": INTEGER, "launches": INTEGER,
                                 "crashes": INTEGER, "jsErrors": INTEGER, **rates, "affectedDevices": INTEGER,
                                 "variants": array(obj({"variant": STRING, "value": STRING, "launches": INTEGER,
                                                        "crashes": INTEGER, "jsErrors": INTEGER, **rates,
                                                        "affectedDevices": INTEGER,
                                                        "days": array({"type": "object"})}))})), [flag_id]),
        },
        "/v1/ota/segments": {
            "get": op("The project's segments", reply(obj({"segments": array(ref("Segment"))}))),
            "post": op("Create a segment", {**reply(obj({"segment": ref("Segment")}), 201), **json_errors(409)}),
        },
        "/v1/ota/segments/{segment_id}": {
            "get": op("A segment", reply(obj({"segment": ref("Segment")})), [segment_id]),
            "patch": op("Change a segment (not its key)", reply(obj({"segment": ref("Segment")})), [segment_id]),
            "delete": op("Delete a segment (409 while a flag rule uses it)", {**deleted, **json_errors(409)},
                         [segment_id]),
        },
        "/v1/ota/contexts": {
            "get": op("The project's contexts, by kind and search",
                      reply(obj({"contexts": array(ref("FlagContext")), "total": INTEGER}))),
            "post": op("Create a context", {**reply(obj({"context": ref("FlagContext")}), 201), **json_errors(409)}),
        },
        "/v1/ota/contexts/kinds": {
            "get": op("The context kinds: user, device, organization, service, environment", reply(obj({
                "kinds": array(obj({"kind": STRING, "description": STRING, "contexts": INTEGER}))}))),
        },
        "/v1/ota/contexts/{context_id}": {
            "get": op("A context", reply(obj({"context": ref("FlagContext")})), [context_id]),
            "delete": op("Delete a context", deleted, [context_id]),
        },
        "/v1/ota/rollout-policies": {
            "get": op("The project's rollout policies", reply(obj({"policies": array(ref("RolloutPolicy"))}))),
            "post": op("Create a rollout policy", {**reply(obj({"policy": ref("RolloutPolicy")}), 201),
                                                   **json_errors(409)}),
        },
        "/v1/ota/rollout-policies/{policy_id}": {
            "get": op("A rollout policy", reply(obj({"policy": ref("RolloutPolicy")})), [policy_id]),
            "patch": op("Change a rollout policy (409 while an execution runs it)",
                        {**reply(obj({"policy": ref("RolloutPolicy")})), **json_errors(409)}, [policy_id]),
            "delete": op("Delete a rollout policy (409 while an execution uses it)", {**deleted, **json_errors(409)},
                         [policy_id]),
        },
        "/v1/ota/rollout-executions": {
            "get": op("Rollout executions, newest first", reply(obj({
                "executions": array(ref("RolloutExecution")), "total": INTEGER}))),
        },
        "/v1/ota/rollout-executions/{execution_id}": {
            "get": op("A rollout execution with its events", execution, [execution_id]),
        },
        "/v1/ota/flag-evaluations": {"post": operation(
            "Evaluation counts from an on-device provider (only the app's own flags and variants count)",
            "appdispatch", {**reply(status=204, description="Counted (written in the next batch)"),
                            **json_errors(400, 404, 429)}, request_body=body(counts), security=PUBLIC)},
    }
    for verb, summary in (("pause", "Pause"), ("resume", "Resume"), ("cancel", "Cancel"),
                          ("advance", "Move to the next stage now (or complete at the last)")):
        paths[f"/v1/ota/rollout-executions/{{execution_id}}/{verb}"] = {"post": op(
            f"{summary} a rollout execution", {**execution, **json_errors(409)}, [execution_id])}
    return paths


def _telemetry_paths() -> dict:
    """Adoption, telemetry and observe events (telemetry.py)."""
    op = _op
    rates = {"crashRate": nullable({"type": "number"}), "errorRate": nullable({"type": "number"}),
             "crashFreeRate": nullable({"type": "number"})}
    sums = {"launches": INTEGER, "crashes": INTEGER, "jsErrors": INTEGER, **rates}
    event = obj({"id": INTEGER, "type": {"enum": list(KEPT_TYPES)}, "name": nullable(STRING),
                 "message": nullable(STRING), "count": INTEGER, "deviceId": STRING, "channel": nullable(STRING),
                 "platform": nullable(STRING), "runtimeVersion": nullable(STRING), "updateId": nullable(INTEGER),
                 "flagStates": {"type": "object"}, "createdAt": TIMESTAMP})
    return {
        "/v1/ota/insights/adoption": {
            "get": op("Active devices and download counts per update, and active devices per day", reply(obj({
                "days": INTEGER, "totalActiveDevices": INTEGER, "totalDownloads": INTEGER,
                "updates": array(obj({"updateId": nullable(INTEGER), "channel": nullable(STRING),
                                      "activeDevices": INTEGER, "downloads": INTEGER, "share": {"type": "number"}})),
                "daily": array(obj({"day": STRING, "activeDevices": INTEGER}))}))),
        },
        "/v1/ota/telemetry/timeseries": {
            "get": op("Hourly devices, launches, errors and crashes of the project", reply(obj({
                "days": INTEGER, "bucketSeconds": INTEGER, "points": array({"type": "object"})}))),
        },
        "/v1/ota/telemetry/flag-impacts": {
            "get": op("Error rate and crash-free percentage per flag variation, and per update and channel",
                      reply(obj({"days": INTEGER,
                                 "flags": array(obj({"flagKey": STRING, "variant": STRING, **sums})),
                                 "updates": array(obj({"updateId": INTEGER, "channel": nullable(STRING),
                                                       **sums}))}))),
        },
        "/v1/ota/telemetry/events": {
            "get": op("Devices' kept errors, crashes and custom events, newest first (the most recent "
                      "OTABOX_EVENTS_PER_APP of the app)", reply(obj({"events": array(event), "total": INTEGER}))),
        },
        "/v1/ota/observe/events": {
            "get": op("Errors, crashes and custom events, 50 per page, newest first",
                      reply(obj({"events": array(event), "page": INTEGER, "pageSize": INTEGER, "total": INTEGER}))),
        },
    }
