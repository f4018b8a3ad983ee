"""The OpenAPI 3.1 description of otabox's HTTP API, served at `GET /api/v1/openapi.json`.

It is written by hand to match the handlers (tests/api/test_openapi.py fails when a route exists that
the document lacks, or the reverse, and fuzzes a live server against it); request bodies whose schema
lives beside a core operation are taken from it (`accepted`), and tests/api/test_strict_input.py
checks every management route's documented fields against what the route accepts. Four error shapes exist
by design: the management API and otabox's own client routes answer `{"error": {code, message,
details}}`; the CodePush routes answer plain text as code-push-server does; capacitor-updater's
routes answer `{kind, error, message}`, which the plugin understands; the OFREP routes answer
`{key, errorCode, errorDetails}`, which OpenFeature's providers read."""
from __future__ import annotations

import copy

from . import __version__
from .core import apps, branches, devices, policies, releases, webhooks
from .fields import Schema
from .core.decide import REASONS
from .core.flag_eval import FLAG_TYPES
from .protocols.capgo import management as capgo_management
from .protocols.appdispatch import management as appdispatch
from .protocols.codepush.updates import SNAKE_CASE
from .protocols.koolbase import management as koolbase_management

JSON = "application/json"
TEXT = "text/plain"

STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Queued; done shortly", 204: "No content", 206: "Partial content",
    304: "Not modified",
    400: "The request is malformed or a field is invalid", 401: "Missing, unknown or expired key or session",
    403: "The key may not do this, or the signed URL is invalid or expired", 404: "No such resource",
    406: "The client cannot accept the reply", 409: "The change conflicts with the current state",
    410: "The upload has expired", 413: "The body is too large", 415: "The body must be JSON",
    416: "The range cannot be satisfied",
    422: "The content is not acceptable (bad zip, mismatched checksum...)", 429: "Too many requests",
    503: "The server is busy (other uploads), or its database or bundle store is briefly unreachable; retry after "
         "Retry-After", 507: "The server's storage is full",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


# --- small builders ----------------------------------------------------------------------------

def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIMESTAMP = {"type": "string", "format": "date-time"}
PERMISSION = {"enum": ["Owner", "Collaborator", "Reader"]}
ROLE = {"enum": ["admin", "publisher", "reader"]}


def obj(properties: dict, required: list[str] | None = None) -> dict:
    """An object schema; every property is required unless `required` names a subset."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


def body(schema: dict, media_type: str = JSON, required: bool = True) -> dict:
    return {"required": required, "content": {media_type: {"schema": schema}}}


def accepted(schema: Schema, required: bool = True) -> dict:
    """The JSON body a route accepts, from the schema it validates with."""
    return body(schema.json_schema(), required=required)


def reply(schema: dict | None = None, status: int = 200, media_type: str = JSON, description: str | None = None
          ) -> dict:
    response = {"description": description or STATUS_TEXT[status]}
    if schema is not None:
        response["content"] = {media_type: {"schema": schema}}
    return {str(status): response}


def error_replies(statuses, content: dict) -> dict:
    """Error responses with the same body; a 429 also tells when to retry."""
    responses = {str(s): {"description": STATUS_TEXT[s], "content": content} for s in statuses}
    for waits in ("429", "503"):
        if waits in responses:
            responses[waits]["headers"] = RETRY_AFTER
    return responses


def json_errors(*statuses: int) -> dict:
    """Responses in otabox's error shape (see components.responses)."""
    return {str(s): {"$ref": f"#/components/responses/Error{s}"} for s in statuses}


def text_errors(*statuses: int) -> dict:
    """CodePush error responses: a plain-text message (the SDK and the CLI show it as is)."""
    return error_replies(statuses, {TEXT: {"schema": STRING}})


def capgo_errors(*statuses: int) -> dict:
    return error_replies(statuses, {JSON: {"schema": ref("CapgoRefusal")}})


def param(name: str, where: str, schema: dict | None = None, required: bool = False, description: str = "") -> dict:
    entry = {"name": name, "in": where, "required": required or where == "path", "schema": schema or STRING}
    if description:
        entry["description"] = description
    return entry


def path(name: str, description: str = "", schema: dict | None = None) -> dict:
    return param(name, "path", schema, description=description)


def query(name: str, schema: dict | None = None, description: str = "", required: bool = False) -> dict:
    return param(name, "query", schema, required, description)


def header(name: str, schema: dict | None = None, description: str = "", required: bool = False) -> dict:
    return param(name, "header", schema, required, description)


def operation(summary: str, tag: str, responses: dict, parameters: list | None = None,
              request_body: dict | None = None, security: list | None = None) -> dict:
    op = {"summary": summary, "tags": [tag], "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if request_body:
        op["requestBody"] = request_body
    if security is not None:
        op["security"] = security
    return op


PUBLIC: list = []
CLIENT_KEY = [{"clientKey": []}]
PAGING = [query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
          query("offset", {"type": "integer", "minimum": 0, "maximum": 10**9})]


# --- shared schemas ----------------------------------------------------------------------------

def _schemas() -> dict:
    stats = obj({"checks": INTEGER, "downloads": INTEGER, "installs": INTEGER, "failures": INTEGER,
                 "actions": {"type": "object", "additionalProperties": INTEGER}})
    release = obj({
        "id": INTEGER, "channel": nullable(STRING), "kind": {"enum": ["release", "promote", "rollback", "builtin"]},
        "label": STRING, "bundleId": nullable(INTEGER), "bundleVersion": STRING,
        "rollout": {"type": "integer", "minimum": 0, "maximum": 100}, "mandatory": BOOLEAN, "disabled": BOOLEAN,
        "notes": STRING, "actor": STRING, "promotedAt": TIMESTAMP,
        "targetVersions": nullable(STRING), "platform": nullable({"enum": ["ios", "android"]}),
        "runtimeVersion": nullable(STRING), "deleted": BOOLEAN, "groupId": nullable(STRING),
        "originalLabel": nullable(STRING), "originalChannel": nullable(STRING), "stats": stats})
    channel = obj({
        "id": INTEGER, "name": STRING, "deploymentKey": STRING, "blockUpgrades": {"enum": list(apps.BLOCK_UPGRADES)},
        "allowDeviceSelfAssign": BOOLEAN, "allowEmulator": BOOLEAN, "allowDev": BOOLEAN, "ios": BOOLEAN,
        "android": BOOLEAN, "disableAutoUpdateUnderNative": BOOLEAN, "public": BOOLEAN,
        "branch": nullable(STRING), "rolloutBranch": nullable(STRING),
        "rolloutChannel": nullable(STRING), "rolloutPercentage": {"type": "integer", "minimum": 0, "maximum": 100},
        "minRuntimeVersion": nullable(STRING), "currentRelease": nullable(ref("Release")), "createdAt": TIMESTAMP})
    app = obj({"id": INTEGER, "slug": STRING, "name": STRING, "platform": nullable({"enum": list(apps.APP_PLATFORMS)}),
               "clientKey": STRING,
               "defaultChannel": nullable(STRING), "createdAt": TIMESTAMP})
    bundle = obj({
        "id": INTEGER, "version": STRING, "platform": {"enum": ["ios", "android", "all"]},
        "format": {"enum": ["zip", "expo"]}, "sha256": STRING, "size": INTEGER, "signature": STRING,
        "minNativeBuild": nullable(INTEGER), "targetVersions": nullable(STRING), "notes": STRING,
        "packageHash": nullable(STRING), "runtimeVersion": nullable(STRING), "encrypted": BOOLEAN,
        "keyId": nullable(STRING), "minUpdateVersion": nullable(STRING), "message": STRING,
        "gitCommitHash": nullable(STRING), "gitBranch": nullable(STRING), "expoConfig": nullable({"type": "object"}),
        "createdAt": TIMESTAMP})
    device = obj({
        "deviceId": STRING, "platform": STRING, "nativeVersion": STRING, "nativeBuild": STRING,
        "bundleVersion": STRING, "channel": STRING, "firstSeen": TIMESTAMP, "lastSeen": TIMESTAMP,
        "override": obj({"channel": nullable(STRING), "bundleId": nullable(INTEGER)}),
        "selfAssignedChannel": nullable(STRING), "customId": nullable(STRING), "pluginVersion": nullable(STRING),
        "osVersion": nullable(STRING), "isProd": nullable(BOOLEAN), "isEmulator": nullable(BOOLEAN)})
    return {
        "Error": obj({"error": obj({"code": STRING, "message": STRING, "details": {"type": "object"}})}),
        "App": app, "Channel": channel, "Release": release, "Bundle": bundle, "Device": device,
        "Branch": obj({"id": INTEGER, "name": STRING, "channels": array(STRING), "releaseCount": INTEGER,
                       "createdAt": TIMESTAMP}),
        "UserOverride": obj({"id": INTEGER, "userId": STRING, "branchName": STRING, "note": STRING,
                             "createdBy": STRING, "createdAt": TIMESTAMP}),
        "ReleaseChange": obj({"release": ref("Release"), "previousRelease": nullable(ref("Release"))}),
        "ReleaseList": obj({"releases": array(ref("Release")), "groupId": STRING}),
        "AuditEntry": obj({"id": INTEGER, "at": TIMESTAMP, "actor": STRING, "token": nullable(STRING),
                           "action": STRING, "entityType": STRING, "entityId": STRING,
                           "details": {"type": "object"}}),
        **_team_schemas(), **_codepush_schemas(), **_capgo_schemas(), **_flag_schemas(), **_health_schemas(),
    }


def _health_schemas() -> dict:
    rate = nullable({"type": "number", "minimum": 0, "maximum": 100})
    stage = obj({"percentage": {"type": "integer", "minimum": 1, "maximum": 100},
                 "minDevices": {"type": "integer", "minimum": 0},
                 "minServedDevices": {"type": "integer", "minimum": 0},
                 "minDurationMinutes": {"type": "number", "minimum": 0}})
    thresholds = obj({"errorRate": rate, "crashRate": rate, "minLaunches": {"type": "integer", "minimum": 0},
                      "action": {"enum": ["auto-rollback", "pause"]}})
    execution_event = obj({"at": TIMESTAMP, "kind": STRING, "stage": INTEGER, "percentage": INTEGER,
                           "actor": STRING, "details": {"type": "object"}})
    attempt = obj({"attempt": INTEGER, "at": TIMESTAMP, "statusCode": nullable(INTEGER), "durationMs": {
        "type": "number"}, "error": STRING})
    return {
        "HealthEvent": obj({"type": {"enum": ["app_launch", "crash", "js_error", "custom"]},
                            "name": {"type": "string", "maxLength": 100}, "message": {"type": "string",
                                                                                      "maxLength": 8000},
                            "count": {"type": "integer", "minimum": 1, "maximum": 1000000},
                            "flagStates": {"type": "object", "maxProperties": 50}}, required=["type"]),
        "ReleaseHealth": obj({
            "releaseId": INTEGER, "launches": INTEGER, "crashes": INTEGER, "jsErrors": INTEGER, "failures": INTEGER,
            "devices": INTEGER, "launchedDevices": INTEGER, "servedDevices": INTEGER, "attestedDevices": INTEGER,
            "crashRate": rate, "errorRate": rate,
            "crashFreeRate": rate, "custom": {"type": "object", "additionalProperties": INTEGER},
            "topErrors": array(obj({"message": STRING, "kind": STRING, "count": INTEGER, "lastSeen": TIMESTAMP}))}),
        "RolloutStage": stage,
        "RolloutThresholds": thresholds,
        "RolloutPolicy": obj({"id": INTEGER, "appId": INTEGER, "name": STRING, "stages": array(stage),
                              "thresholds": thresholds, "requireServedDevices": BOOLEAN,
                              "activeExecutions": INTEGER, "createdAt": TIMESTAMP,
                              "updatedAt": TIMESTAMP}),
        "RolloutExecution": obj({
            "id": INTEGER, "releaseId": INTEGER, "policyId": nullable(INTEGER), "policyName": STRING,
            "status": {"enum": ["running", "paused", "completed", "rolled_back", "cancelled"]},
            "stage": {"type": "integer", "minimum": 1}, "stages": nullable(INTEGER), "percentage": INTEGER,
            "channel": STRING, "bundleVersion": STRING, "stageStartedAt": TIMESTAMP, "createdAt": TIMESTAMP,
            "updatedAt": TIMESTAMP, "events": array(execution_event)}, required=[
            "id", "releaseId", "policyId", "policyName", "status", "stage", "stages", "percentage", "channel",
            "bundleVersion", "stageStartedAt", "createdAt", "updatedAt"]),
        "Webhook": obj({"id": INTEGER, "url": STRING, "events": array(STRING), "appId": nullable(INTEGER),
                        "isActive": BOOLEAN, "format": {"enum": list(webhooks.FORMATS)}, "createdAt": TIMESTAMP,
                        "updatedAt": TIMESTAMP}),
        "WebhookDelivery": obj({"id": STRING, "eventId": STRING, "event": STRING,
                                "status": {"enum": ["pending", "delivered", "failed"]}, "attempts": array(attempt),
                                "nextAttemptAt": nullable(TIMESTAMP), "createdAt": TIMESTAMP,
                                "finishedAt": nullable(TIMESTAMP)}),
    }


def _codepush_schemas() -> dict:
    info = {"downloadURL": STRING, "description": STRING, "isAvailable": BOOLEAN, "isMandatory": BOOLEAN,
            "appVersion": STRING, "packageHash": STRING, "label": STRING, "packageSize": INTEGER,
            "updateAppVersion": BOOLEAN, "shouldRunBinaryVersion": BOOLEAN, "target_binary_range": STRING}
    package = obj({
        "appVersion": STRING, "blobUrl": STRING, "description": STRING, "isDisabled": BOOLEAN,
        "isMandatory": BOOLEAN, "label": STRING, "packageHash": STRING,
        "releaseMethod": {"enum": ["Upload", "Promote", "Rollback"]}, "releasedBy": STRING,
        "rollout": nullable({"type": "integer", "minimum": 1, "maximum": 99}), "size": INTEGER,
        "uploadTime": INTEGER, "originalLabel": STRING, "originalDeployment": STRING,
        "diffPackageMap": {"type": "object", "additionalProperties": obj({"url": STRING, "size": INTEGER})}},
        required=["appVersion", "blobUrl", "description", "isDisabled", "isMandatory", "label", "packageHash",
                  "releaseMethod", "releasedBy", "rollout", "size", "uploadTime"])
    return {
        "CodePushUpdateInfo": obj(info),
        "CodePushUpdateInfoSnake": obj({SNAKE_CASE[name]: schema for name, schema in info.items()}),
        "CodePushApp": obj({
            "name": STRING, "deployments": array(STRING),
            "collaborators": {"type": "object", "additionalProperties": obj({
                "isCurrentAccount": BOOLEAN, "permission": PERMISSION})}}),
        "CodePushDeployment": obj({"name": STRING, "key": STRING, "package": nullable(ref("CodePushPackage"))}),
        "CodePushPackage": package,
        "CodePushPackageInfo": obj({
            "appVersion": STRING, "description": STRING, "isDisabled": BOOLEAN, "isMandatory": BOOLEAN,
            "label": STRING, "rollout": {"type": "integer", "minimum": 1, "maximum": 100}}, required=[]),
        "CodePushStatusReport": obj({
            "deploymentKey": STRING, "appVersion": STRING, "label": STRING, "clientUniqueId": STRING,
            "status": {"enum": ["DeploymentSucceeded", "DeploymentFailed"]}, "previousLabelOrAppVersion": STRING,
            "previousDeploymentKey": STRING}, required=["deploymentKey"]),
    }


def _capgo_schemas() -> dict:
    text = {"type": "string", "maxLength": 256}
    device_info = obj({
        **{name: text for name in ("app_id", "device_id", "platform", "custom_id", "version_build",
                                   "version_code", "version_os", "version_name", "old_version_name",
                                   "plugin_version", "install_source", "defaultChannel", "key_id")},
        "platform": {"enum": ["ios", "android", "electron"]}, "is_emulator": BOOLEAN, "is_prod": BOOLEAN},
        required=["app_id", "device_id", "platform"])
    stat = {**device_info, "properties": {**device_info["properties"], "action": text, "metadata": {"type": "object"}},
            "required": ["app_id", "device_id", "action"]}
    manifest_entry = obj({"file_name": STRING, "file_hash": STRING, "download_url": STRING})
    return {
        "CapgoDeviceInfo": device_info,
        "CapgoStat": stat,
        "CapgoRefusal": obj({"kind": {"enum": ["up_to_date", "blocked", "failed"]}, "error": STRING,
                             "message": STRING, "version": STRING, "old": STRING, "major": BOOLEAN},
                            required=["kind", "error", "message"]),
        "CapgoUpdate": obj({"version": STRING, "url": STRING, "checksum": STRING, "session_key": STRING,
                            "manifest": array(manifest_entry), "message": STRING},
                           required=["version", "url", "checksum"]),
        "CapgoBuiltin": obj({"version": {"const": "builtin"}, "message": STRING}),
    }


def _error_responses() -> dict:
    statuses = (400, 401, 403, 404, 406, 409, 410, 413, 415, 416, 422, 429, 503, 507)
    shaped = error_replies(statuses, {JSON: {"schema": ref("Error")}})
    return {f"Error{status}": response for status, response in shaped.items()}


ANY = {}
"""Any JSON value (a flag value of the flag's type)."""
RULE_TYPES = ["user_list", "percentage_rollout", "attribute", "segment", "ota_update"]
CONDITION = obj({"attribute": STRING, "operator": {"enum": [
    "eq", "neq", "in", "not_in", "contains", "starts_with", "ends_with", "gt", "gte", "lt", "lte", "semver_eq",
    "semver_gt", "semver_gte", "semver_lt", "semver_lte", "exists", "not_exists"]},
    "valuesJson": array({"type": ["string", "number", "boolean"]})})


def _flag_schemas() -> dict:
    variation = obj({"id": INTEGER, "name": STRING, "value": ANY})
    rule = obj({"id": INTEGER, "flagId": INTEGER, "ruleType": {"enum": RULE_TYPES}, "ruleConfig": {"type": "object"},
                "variantValue": ANY, "priority": INTEGER, "channelName": nullable(STRING), "createdAt": TIMESTAMP})
    flag = obj({
        "id": INTEGER, "key": STRING, "name": STRING, "flagType": {"enum": list(FLAG_TYPES)},
        "defaultValue": ANY, "enabled": BOOLEAN, "description": STRING, "variations": array(variation),
        "channels": array(obj({"channelName": STRING, "enabled": BOOLEAN, "defaultValue": ANY, "active": BOOLEAN})),
        "rules": array(ref("FlagRule")), "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP})
    segment = obj({"id": INTEGER, "key": STRING, "name": STRING, "description": STRING,
                   "matchType": {"enum": ["all", "any"]}, "conditions": array(CONDITION),
                   "usedBy": array(obj({"flagId": INTEGER, "flagKey": STRING, "ruleId": INTEGER})),
                   "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP})
    context = obj({"id": INTEGER, "kind": {"enum": ["user", "device", "organization", "service", "environment"]},
                   "targetingKey": STRING, "name": STRING, "attributes": {"type": "object"}, "evaluations": INTEGER,
                   "source": {"enum": ["manual", "evaluation"]}, "firstSeen": TIMESTAMP, "lastSeen": TIMESTAMP})
    metadata = {"type": "object", "additionalProperties": {"type": ["boolean", "string", "number"]}}
    success = obj({"key": STRING, "value": ANY, "reason": {"enum": ["STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT",
                                                                   "DISABLED"]},
                   "variant": STRING, "metadata": metadata})
    failure = obj({"key": STRING, "errorCode": {"enum": ["FLAG_NOT_FOUND", "PARSE_ERROR", "TARGETING_KEY_MISSING",
                                                         "INVALID_CONTEXT", "GENERAL"]},
                   "errorDetails": STRING}, required=["errorCode", "errorDetails"])
    return {"Flag": flag, "FlagRule": rule, "Segment": segment, "FlagContext": context,
            "OfrepSuccess": success, "OfrepFailure": failure}


def _flag_paths(app: str, tag: str) -> dict:
    flag = f"{app}/flags/{{flag_id}}"
    flag_id = path("flag_id", schema=INTEGER)
    flag_fields = {"name": STRING, "description": STRING, "enabled": BOOLEAN, "defaultValue": ANY,
                   "variations": array(obj({"id": INTEGER, "name": STRING, "value": ANY}, required=["name", "value"]))}
    rule_fields = {"ruleType": {"enum": RULE_TYPES}, "ruleConfig": {"type": "object"}, "variantValue": ANY,
                   "priority": INTEGER, "channelName": nullable(STRING)}
    segment_fields = {"name": STRING, "key": STRING, "description": STRING, "matchType": {"enum": ["all", "any"]},
                      "conditions": array(CONDITION)}
    segment_id, context_id = path("segment_id", schema=INTEGER), path("context_id", schema=INTEGER)
    deleted = reply(obj({"deleted": BOOLEAN, "id": INTEGER}))
    return {
        f"{app}/flags": {
            "get": operation("The app's feature flags with variations, channel settings and rules", tag, {
                **reply(obj({"flags": array(ref("Flag"))})), **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Create a flag (boolean flags get on/off variations when none are given)", tag, {
                **reply(ref("Flag"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID],
                body(obj({"key": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
                          "flagType": {"enum": list(FLAG_TYPES)}, **flag_fields},
                         required=["key", "flagType"]))),
        },
        flag: {
            "get": operation("A flag", tag, {**reply(ref("Flag")), **json_errors(*AUTH)}, [APP_ID, flag_id]),
            "patch": operation("Change a flag's name, description, switch, default value or variations", tag, {
                **reply(ref("Flag")), **json_errors(400, *AUTH, 409)}, [APP_ID, flag_id],
                body(obj({**flag_fields, **{fixed: {"description": "Fixed once made: only the flag's own value is "
                                                                   "accepted"} for fixed in ("key", "flagType")}},
                         required=[]))),
            "delete": operation("Delete a flag with its rules and counts", tag, {
                **deleted, **json_errors(*AUTH)}, [APP_ID, flag_id]),
        },
        f"{flag}/variations/{{variation_id}}": {
            "patch": operation("Rename a variation or change its value (wherever it is served)", tag, {
                **reply(ref("Flag")), **json_errors(400, *AUTH, 409)},
                [APP_ID, flag_id, path("variation_id", schema=INTEGER)],
                body(obj({"name": STRING, "value": ANY}, required=[]))),
        },
        f"{flag}/env/{{name}}": {
            "patch": operation("A flag's switch and default value in one channel", tag, {
                **reply(ref("Flag")), **json_errors(400, *AUTH, 409)}, [APP_ID, flag_id, CHANNEL],
                body(obj({"enabled": BOOLEAN, "defaultValue": ANY}, required=[]))),
        },
        f"{flag}/rules": {
            "post": operation("Add a targeting rule (lowest priority first; first match wins)", tag, {
                **reply(ref("FlagRule"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID, flag_id],
                body(obj(rule_fields, required=["ruleType", "ruleConfig"]))),
        },
        f"{flag}/rules/{{rule_id}}": {
            "patch": operation("Change a rule", tag, {**reply(ref("FlagRule")), **json_errors(400, *AUTH, 409)},
                               [APP_ID, flag_id, path("rule_id", schema=INTEGER)], body(obj(rule_fields, required=[]))),
            "delete": operation("Delete a rule", tag, {**deleted, **json_errors(*AUTH)},
                                [APP_ID, flag_id, path("rule_id", schema=INTEGER)]),
        },
        f"{flag}/evaluations": {
            "get": operation("Evaluations per day and variant", tag, {**reply(obj({
                "flagId": INTEGER, "key": STRING, "days": INTEGER, "since": STRING,
                "evaluations": array(obj({"day": STRING, "variant": STRING, "count": INTEGER})),
                "totals": {"type": "object", "additionalProperties": INTEGER}})), **json_errors(400, *AUTH)},
                [APP_ID, flag_id, query("days", {"type": "integer", "minimum": 1, "maximum": 366})]),
        },
        f"{flag}/health": {
            "get": operation("Crash and error rates per variant, from health reports' flagStates", tag, {**reply(obj({
                "flagId": INTEGER, "key": STRING, "days": INTEGER, "variants": array(obj({
                    "variant": STRING, "value": STRING, "launches": INTEGER, "crashes": INTEGER, "jsErrors": INTEGER,
                    "crashRate": nullable({"type": "number"}), "errorRate": nullable({"type": "number"}),
                    "crashFreeRate": nullable({"type": "number"}),
                    "days": array(obj({"day": STRING, "launches": INTEGER, "crashes": INTEGER,
                                       "jsErrors": INTEGER}))}))})), **json_errors(400, *AUTH)},
                [APP_ID, flag_id, query("days", {"type": "integer", "minimum": 1, "maximum": 90})]),
        },
        f"{app}/segments": {
            "get": operation("The app's segments", tag, {
                **reply(obj({"segments": array(ref("Segment"))})), **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Create a segment (the key is made from the name when not given)", tag, {
                **reply(ref("Segment"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID],
                body(obj(segment_fields, required=["name"]))),
        },
        f"{app}/segments/{{segment_id}}": {
            "get": operation("A segment with the rules that use it", tag, {
                **reply(ref("Segment")), **json_errors(*AUTH)}, [APP_ID, segment_id]),
            "patch": operation("Change a segment (not its key)", tag, {
                **reply(ref("Segment")), **json_errors(400, *AUTH)}, [APP_ID, segment_id],
                body(obj(segment_fields, required=[]))),
            "delete": operation("Delete a segment no rule uses", tag, {**deleted, **json_errors(*AUTH, 409)},
                                [APP_ID, segment_id]),
        },
        f"{app}/contexts": {
            "get": operation("Evaluation contexts, most recently seen first", tag, {
                **reply(obj({"contexts": array(ref("FlagContext")), "total": INTEGER})), **json_errors(400, *AUTH)},
                [APP_ID, query("kind", {"enum": ["user", "device", "organization", "service", "environment"]}),
                 query("search", description="Part of a targeting key, name or attribute"), *PAGING]),
            "post": operation("Create a context by hand (to try targeting before devices report)", tag, {
                **reply(ref("FlagContext"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID],
                body(obj({"kind": {"enum": ["user", "device", "organization", "service", "environment"]},
                          "targetingKey": STRING, "name": STRING, "attributes": {"type": "object"}},
                         required=["targetingKey"]))),
        },
        f"{app}/contexts/kinds": {
            "get": operation("The context kinds, with how many contexts of each the app has", tag, {
                **reply(obj({"kinds": array(obj({"kind": STRING, "description": STRING, "contexts": INTEGER}))})),
                **json_errors(*AUTH)}, [APP_ID]),
        },
        f"{app}/contexts/{{context_id}}": {
            "get": operation("A context", tag, {**reply(ref("FlagContext")), **json_errors(*AUTH)},
                             [APP_ID, context_id]),
            "delete": operation("Delete a context", tag, {**deleted, **json_errors(*AUTH)}, [APP_ID, context_id]),
        },
    }


def _ofrep_paths() -> dict:
    tag = "feature flags (OFREP)"
    security = [{"clientKey": []}, {"clientKeyBearer": []}]
    context = {"type": "object", "properties": {"targetingKey": STRING, "kind": STRING, "channel": STRING},
               "additionalProperties": True}
    request = body(obj({"context": context}, required=[]))
    failure = {JSON: {"schema": ref("OfrepFailure")}}
    errors = {**error_replies((400, 401, 413, 429), failure)}
    definition_rule = obj({"id": INTEGER, "priority": INTEGER, "ruleType": {"enum": RULE_TYPES}, "variantValue": ANY,
                           "ruleConfig": {"type": "object"}})
    definition = obj({"key": STRING, "flagType": STRING, "defaultValue": ANY, "enabled": BOOLEAN,
                      "rules": array(definition_rule),
                      "variations": array(obj({"id": INTEGER, "name": STRING, "value": ANY}))})
    etag = {"ETag": {"description": "A digest of the reply; send it as If-None-Match", "schema": STRING}}
    ok_with_etag = {"200": {**reply(obj({"flags": array({"anyOf": [ref("OfrepSuccess"), ref("OfrepFailure")]})}))[
        "200"], "headers": etag}}
    return {
        "/ofrep/v1/evaluate/flags/{flag_key}": {"post": operation(
            "Evaluate one flag for a context (OpenFeature Remote Evaluation Protocol)", tag, {
                **reply(ref("OfrepSuccess")), **errors, **error_replies((404,), failure)},
            [path("flag_key", "The flag's key")], request, security)},
        "/ofrep/v1/evaluate/flags": {"post": operation(
            "Evaluate every flag of the app for a context (304 when If-None-Match names the reply)", tag, {
                **ok_with_etag, **reply(status=304), **errors},
            [header("If-None-Match")], request, security)},
        "/v1/ota/flag-definitions/{project_slug}": {"get": operation(
            "The flags that are on in a channel, with rules and variations, for on-device evaluation", tag, {
                **reply(obj({"channel": STRING, "flags": array(definition)})), **reply(status=304),
                **json_errors(401, 404, 429)},
            [path("project_slug", "The app's slug (or id)"), query("channel"), header("If-None-Match")],
            security=security)},
    }


# --- management API (/api/v1) ------------------------------------------------------------------

APP_ID = path("app_id", "The app's numeric id or its slug")
CHANNEL = path("name", "The channel's name")
KEYED = (401, 403, 429)
"""Any route with a bearer key: missing/unknown key, wrong role or app, too many failed keys."""
AUTH = (*KEYED, 404)


def _management_paths() -> dict:
    api = "/api/v1"
    app = f"{api}/apps/{{app_id}}"
    channel = f"{app}/channels/{{name}}"
    tag = "management"
    release_change = reply(ref("ReleaseChange"), 201)
    serves = array(obj({"channel": STRING, "release": nullable(INTEGER), "label": nullable(STRING),
                        "version": STRING, "share": {"type": "number"}}))
    release_options = {"rollout": {"type": "integer", "minimum": 0, "maximum": 100}, "mandatory": BOOLEAN,
                       "notes": {"type": "string", "maxLength": 10000}}
    return {
        f"{api}/apps": {
            "get": operation("List the apps the key can see", tag,
                             {**reply(obj({"apps": array({"allOf": [ref("App"), obj({
                                 "devicesLast30Days": INTEGER, "productionRelease": nullable(ref("Release")),
                                 "deployments": array(STRING), "collaborators": array(obj({
                                     "email": STRING, "permission": PERMISSION}))})]})})),
                              **json_errors(*KEYED)}),
            "post": operation("Create an app: with a slug, the app with channels production and staging; with "
                              "name and platform and no slug (the CodePush multi-tenant server), {app: {name, "
                              "platform, deployments}} with deployments Production and Staging", tag,
                              {**reply({"anyOf": [ref("App"), obj({"app": obj({
                                  "name": STRING, "platform": {"enum": list(apps.APP_PLATFORMS)},
                                  "deployments": array(STRING)})})]}, 201), **json_errors(400, *KEYED, 409, 422)},
                              request_body=body(apps.NEW_APP.json_schema())),
        },
        app: {
            "get": operation("An app with its channels", tag, {
                **reply({"allOf": [ref("App"), obj({"channels": array(ref("Channel"))})]}), **json_errors(*AUTH)},
                [APP_ID]),
            "patch": operation("Rename an app or set its default channel", tag, {
                **reply(ref("App")), **json_errors(400, *AUTH)}, [APP_ID],
                accepted(apps.APP_SETTINGS)),
            "delete": operation("Delete an app with its channels, releases and bundles", tag, {
                **reply(obj({"deleted": BOOLEAN, "id": INTEGER})), **json_errors(*AUTH)}, [APP_ID]),
        },
        f"{app}/rotate-client-key": {
            "post": operation("Give the app a new client key (builds with the old one stop getting updates)", tag,
                              {**reply(ref("App")), **json_errors(*AUTH)}, [APP_ID]),
        },
        f"{app}/channels": {
            "get": operation("The app's channels", tag, {
                **reply(obj({"channels": array(ref("Channel")), "total": INTEGER})), **json_errors(400, *AUTH)},
                [APP_ID, *PAGING]),
            "post": operation("Create a channel, or change the settings of the one of that name", tag, {
                **reply(ref("Channel")), **reply(ref("Channel"), 201), **json_errors(400, *AUTH, 409, 422)}, [APP_ID],
                accepted(apps.NEW_CHANNEL)),
        },
        channel: {
            "get": operation("A channel", tag, {**reply(ref("Channel")), **json_errors(*AUTH)}, [APP_ID, CHANNEL]),
            "patch": operation("Change a channel's settings", tag, {
                **reply(ref("Channel")), **json_errors(400, *AUTH)}, [APP_ID, CHANNEL], accepted(apps.CHANNEL_SETTINGS)),
            "delete": operation("Delete a channel with its release history", tag, {
                **reply(obj({"deleted": BOOLEAN, "name": STRING})), **json_errors(*AUTH)}, [APP_ID, CHANNEL]),
        },
        f"{app}/branches": {
            "get": operation("The app's branches (update streams; a channel serves one)", tag, {
                **reply(obj({"branches": array(ref("Branch"))})), **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Create an empty branch", tag, {**reply(ref("Branch"), 201),
                                                              **json_errors(400, *AUTH, 409, 422)}, [APP_ID],
                              accepted(branches.NEW_BRANCH)),
        },
        f"{app}/user-overrides": {
            "get": operation("Users pinned to a branch", tag, {
                **reply(obj({"overrides": array(ref("UserOverride"))})), **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Pin a user's devices to a branch (one override per user)", tag, {
                **reply(ref("UserOverride"), 201), **json_errors(400, *AUTH)}, [APP_ID],
                accepted(branches.NEW_USER_OVERRIDE)),
        },
        f"{app}/user-overrides/{{override_id}}": {
            "delete": operation("Unpin a user", tag, {**reply(obj({"deleted": BOOLEAN, "id": INTEGER})),
                                                     **json_errors(*AUTH)},
                                [APP_ID, path("override_id", schema=INTEGER)]),
        },
        f"{channel}/rotate-key": {
            "post": operation("Give the channel a new deployment key", tag, {
                **reply(ref("Channel")), **json_errors(*AUTH)}, [APP_ID, CHANNEL]),
        },
        f"{channel}/stats": {
            "get": operation("Adoption and daily active devices of a channel over the last days", tag, {
                **reply(obj({"channel": STRING, "days": {"enum": [7, 14, 30, 90]},
                             "adoption": array(obj({"version": STRING, "devices": INTEGER})),
                             "activeByDay": array(obj({"day": STRING, "version": STRING, "devices": INTEGER}))})),
                **json_errors(400, *AUTH)}, [APP_ID, CHANNEL, query("days", {"enum": ["7", "14", "30", "90"]})]),
        },
        f"{channel}/rollback": {
            "post": operation("Roll the channel back (to the previous bundle, a release, or the builtin one)", tag, {
                **reply(obj({"release": ref("Release"), "previousRelease": nullable(ref("Release")),
                             "serves": serves}), 201),
                **reply(obj({"dryRun": BOOLEAN, "release": obj({
                    "channel": STRING, "kind": {"enum": ["rollback", "builtin"]}, "label": STRING,
                    "bundleId": nullable(INTEGER), "bundleVersion": STRING, "rollout": INTEGER, "mandatory": BOOLEAN,
                    "rolledBackFrom": nullable(ref("Release"))}), "serves": serves}),
                        description="dryRun: what the channel would serve"),
                **json_errors(400, *AUTH, 409)}, [APP_ID, CHANNEL],
                accepted(releases.ROLLBACK, required=False)),
        },
        f"{channel}/promote": {
            "post": operation("Release the channel's current bundle to another channel", tag, {
                **release_change, **json_errors(400, *AUTH, 409)}, [APP_ID, CHANNEL],
                body(obj({"to": STRING, **release_options, "targetVersions": STRING}, required=["to"]))),
        },
        **_bundle_paths(app, tag),
        **_device_and_release_paths(app, tag),
        **_flag_paths(app, tag),
        f"{api}/audit-log": {
            "get": operation("Management changes, newest first", tag, {
                **reply(obj({"entries": array(ref("AuditEntry"))})), **json_errors(400, *KEYED)},
                [query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                 query("before", {"type": "integer", "minimum": 0}, "Entries with a smaller id"),
                 query("action"), query("entityType"), query("entity_type"), query("entityId"),
                 query("entity_id")]),
        },
        f"{api}/me": {
            "get": operation("Who is calling: name, role, and the apps it reaches with its role on each", tag, {
                **reply(obj({"name": STRING, "role": ROLE, "via": {"enum": ["session", "token", "key"]},
                             "scoped": BOOLEAN, "appId": nullable(INTEGER), "appSlug": nullable(STRING),
                             "apps": nullable(array(obj({"id": INTEGER, "slug": STRING, "role": ROLE}))),
                             "user": ref("User"), "token": nullable(ref("AccessToken"))})),
                **json_errors(*KEYED)}),
        },
        f"{api}/signing-key": {
            "get": operation("The public keys that verify bundle signatures", tag, reply(obj({
                "algorithm": STRING, "publicKey": STRING, "keyId": STRING,
                "keys": array(obj({"keyId": STRING, "publicKey": STRING, "current": BOOLEAN,
                                   "retiredAt": TIMESTAMP}, required=["keyId", "publicKey", "current"]))})),
                security=PUBLIC),
        },
        f"{api}/openapi.json": {
            "get": operation("This document", tag, reply({"type": "object"}), security=PUBLIC),
        },
    }


def _bundle_paths(app: str, tag: str) -> dict:
    fields = {"version": {"type": "string", "examples": ["1.0.1"]},
              "platform": {"enum": ["ios", "android", "all"]}, "format": {"enum": ["zip", "expo"]},
              "minNativeBuild": {"type": "integer", "minimum": 0}, "targetVersions": STRING, "notes": STRING,
              "runtimeVersion": STRING, "sessionKey": STRING, "encryptedChecksum": STRING, "keyId": STRING,
              "minUpdateVersion": STRING, "message": {"type": "string", "maxLength": 10000},
              "gitCommitHash": {"type": "string", "maxLength": 100}, "gitBranch": {"type": "string", "maxLength": 255},
              "expoConfig": {"type": "object", "description": "The Expo app config (format=expo)"}}
    bundle_id = path("bundle_id", schema=INTEGER)
    deleted = obj({"deleted": BOOLEAN, "ids": array(INTEGER)})
    return {
        f"{app}/bundles": {
            "get": operation("The app's bundles, newest first", tag, {
                **reply(obj({"bundles": array(ref("Bundle")), "total": INTEGER})), **json_errors(400, *AUTH)},
                [APP_ID, *PAGING, query("version", description="Only the bundles of this version")]),
            "post": operation("Upload a bundle (a zip, or an Expo export zip)", tag, {
                **reply(ref("Bundle"), 201), **json_errors(400, *AUTH, 409, 413, 422, 503, 507)}, [APP_ID],
                body(obj({"file": {"type": "string", "contentMediaType": "application/zip"}, **fields,
                          "minNativeBuild": {"type": "string", "pattern": "^[0-9]*$"},
                          "expoConfig": {"type": "string", "contentMediaType": JSON}},
                         required=["file", "version"]), "multipart/form-data")),
            "delete": operation("Delete every bundle no release history, device pin or channel number uses", tag, {
                **reply(deleted), **json_errors(400, *AUTH, 409)},
                [APP_ID, query("unused", {"const": "true"}, required=True)]),
        },
        f"{app}/bundles/initiate": {
            "post": operation("Start a two-step upload; PUT the file to uploadUrl, then finalize", tag, {
                **reply(obj({"uploadId": STRING, "presignedUrl": STRING, "uploadUrl": STRING, "storageKey": STRING,
                             "expiresAt": TIMESTAMP}), 201),
                **json_errors(400, *AUTH, 409, 413)}, [APP_ID],
                body(obj({**fields, "size": {"type": "integer", "minimum": 1},
                          "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}},
                         required=["version", "size", "sha256"]))),
        },
        f"{app}/bundles/finalize": {
            "post": operation("Turn a completed two-step upload into a bundle", tag, {
                **reply(ref("Bundle"), 201), **json_errors(400, *AUTH, 409, 410, 422, 503, 507)}, [APP_ID],
                body(obj({"uploadId": STRING}))),
        },
        f"{app}/bundles/{{bundle_id}}": {
            "get": operation("A bundle", tag, {**reply(ref("Bundle")), **json_errors(*AUTH)}, [APP_ID, bundle_id]),
            "delete": operation("Delete a bundle no release uses, by id or by version", tag, {
                **reply({"allOf": [deleted, obj({"id": INTEGER})]}), **json_errors(400, *AUTH, 409)},
                [APP_ID, path("bundle_id", "A bundle id, or a version (each platform's bundle of it)"),
                 query("platform", {"enum": ["ios", "android", "all"]}, "With a version: only this platform's")]),
        },
    }


def _device_and_release_paths(app: str, tag: str) -> dict:
    device_id = path("device_id", schema={"type": "string", "minLength": 1, "maxLength": 200})
    release_id = path("release_id", schema=INTEGER)
    return {
        f"{app}/devices": {
            "get": operation("Devices seen by the app, most recent first", tag, {
                **reply(obj({"devices": array(ref("Device")), "total": INTEGER})), **json_errors(400, *AUTH)},
                [APP_ID, *PAGING, query("channel"), query("version", description="'builtin' for the binary's"),
                 query("search", description="Part of a device id or custom id"), query("platform"),
                 query("customId"), query("pluginVersion"), query("osVersion"),
                 query("isProd", {"enum": ["true", "false"]}), query("isEmulator", {"enum": ["true", "false"]})]),
        },
        f"{app}/devices/{{device_id}}": {
            "get": operation("A device", tag, {**reply(ref("Device")), **json_errors(*AUTH)}, [APP_ID, device_id]),
            "put": operation("Pin a device to a channel and/or a bundle", tag, {
                **reply(ref("Device")), **json_errors(400, *AUTH)}, [APP_ID, device_id],
                accepted(devices.PIN)),
        },
        f"{app}/devices/{{device_id}}/override": {
            "delete": operation("Remove a device's pin", tag, {**reply(ref("Device")), **json_errors(*AUTH)},
                                [APP_ID, device_id]),
        },
        f"{app}/releases": {
            "get": operation("Release history, newest first (deleted releases only when asked)", tag, {
                **reply(obj({"releases": array(ref("Release")), "total": INTEGER})), **json_errors(400, *AUTH)},
                [APP_ID, query("channel", description="Empty: the base channel (the default channel; OtaKit), "
                                                      "shown as null"),
                 *PAGING, query("includeDeleted", {"enum": ["true", "false"]}),
                 query("groupId")]),
            "post": operation("Release a bundle to a channel (the app's default channel when none is named; under "
                              "a rollout policy with policyId)", tag, {
                **reply({"allOf": [ref("ReleaseChange"), obj({"groupId": STRING,
                                                              "execution": nullable(ref("RolloutExecution"))},
                                                             required=["groupId"])]}, 201),
                **json_errors(400, *AUTH)}, [APP_ID],
                accepted(releases.NEW_RELEASE)),
        },
        f"{app}/releases/{{release_id}}": {
            "get": operation("A release with its stats", tag, {**reply(ref("Release")), **json_errors(*AUTH)},
                             [APP_ID, release_id]),
            "patch": operation("Change a release's rollout, mandatory flag, notes, disabled flag or target", tag, {
                **reply(ref("Release")), **json_errors(400, *AUTH)}, [APP_ID, release_id],
                accepted(releases.RELEASE_CHANGES)),
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
                             "patches, and the bytes the patches saved", tag, {
                **reply(obj({"releaseId": INTEGER, "fullDownloads": INTEGER, "fullBytes": INTEGER,
                             "patchedDownloads": INTEGER, "patchedBytes": INTEGER, "savedBytes": INTEGER})),
                **json_errors(*AUTH)}, [APP_ID, release_id]),
        },
        f"{app}/releases/{{release_id}}/republish": {
            "post": operation("Release the same bundle again to several channels (one group)", tag, {
                **reply(ref("ReleaseList"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID, release_id],
                accepted(releases.REPUBLISH)),
        },
    }


def _health_and_rollout_paths() -> dict:
    api = "/api/v1"
    app = f"{api}/apps/{{app_id}}"
    tag = "health and rollouts"
    policy_id = path("policy_id", schema=INTEGER)
    execution_id = path("execution_id", schema=INTEGER)
    webhook_id = path("webhook_id", schema=INTEGER)
    execution = reply(ref("RolloutExecution"))
    paths = {
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
                [APP_ID, query("release", INTEGER), query("days", {"type": "integer", "minimum": 1, "maximum": 90})]),
        },
        f"{app}/rollout-policies": {
            "get": operation("The app's rollout policies", tag, {
                **reply(obj({"policies": array(ref("RolloutPolicy"))})), **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Create a rollout policy", tag, {
                **reply(ref("RolloutPolicy"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID],
                accepted(policies.NEW_POLICY)),
        },
        f"{app}/rollout-policies/{{policy_id}}": {
            "get": operation("A rollout policy", tag, {**reply(ref("RolloutPolicy")), **json_errors(*AUTH)},
                             [APP_ID, policy_id]),
            "patch": operation("Change a rollout policy (409 while one of its executions runs)", tag, {
                **reply(ref("RolloutPolicy")), **json_errors(400, *AUTH, 409)}, [APP_ID, policy_id],
                accepted(policies.POLICY)),
            "delete": operation("Delete a rollout policy (409 while an execution uses it)", tag, {
                **reply(obj({"deleted": BOOLEAN, "id": INTEGER})), **json_errors(*AUTH, 409)}, [APP_ID, policy_id]),
        },
        f"{app}/rollout-executions": {
            "get": operation("Rollout executions, newest first", tag, {
                **reply(obj({"executions": array(ref("RolloutExecution")), "total": INTEGER})),
                **json_errors(400, *AUTH)},
                [APP_ID, query("status", {"enum": ["running", "paused", "completed", "rolled_back", "cancelled"]}),
                 query("release", {"type": "integer", "minimum": 0}, "Only the executions of this release"),
                 *PAGING]),
        },
        f"{app}/rollout-executions/{{execution_id}}": {
            "get": operation("A rollout execution with its events", tag, {**execution, **json_errors(*AUTH)},
                             [APP_ID, execution_id]),
        },
        f"{api}/webhooks": {
            "get": operation("Webhooks", tag, {**reply(obj({"webhooks": array(ref("Webhook"))})),
                                               **json_errors(*KEYED)}),
            "post": operation("Create a webhook; the reply shows its secret, once", tag, {
                **reply({"allOf": [ref("Webhook"), obj({"secret": STRING})]}, 201),
                **json_errors(400, *KEYED, 422)}, request_body=accepted(webhooks.NEW_WEBHOOK)),
        },
        f"{api}/webhooks/{{webhook_id}}": {
            "get": operation("A webhook", tag, {**reply(ref("Webhook")), **json_errors(*AUTH)}, [webhook_id]),
            "patch": operation("Change a webhook (a new secret too)", tag, {
                **reply(ref("Webhook")), **json_errors(400, *AUTH, 422)}, [webhook_id],
                accepted(webhooks.WEBHOOK)),
            "delete": operation("Delete a webhook with its deliveries", tag, {
                **reply(obj({"deleted": BOOLEAN, "id": INTEGER})), **json_errors(*AUTH)}, [webhook_id]),
        },
        f"{api}/webhooks/{{webhook_id}}/deliveries": {
            "get": operation("The webhook's recent deliveries with every attempt", tag, {
                **reply(obj({"deliveries": array(ref("WebhookDelivery"))})), **json_errors(400, *AUTH)},
                [webhook_id, query("limit", {"type": "integer", "minimum": 1, "maximum": 500})]),
        },
        f"{api}/webhooks/{{webhook_id}}/test": {
            "post": operation("Queue a webhook.test event for the delivery worker; the reply is its pending "
                              "delivery", tag, {**reply(ref("WebhookDelivery"), 202), **json_errors(*AUTH, 409)},
                              [webhook_id]),
        },
    }
    for verb, summary in (("pause", "Pause"), ("resume", "Resume"), ("cancel", "Cancel"),
                          ("advance", "Move to the next stage now (or complete at the last)")):
        paths[f"{app}/rollout-executions/{{execution_id}}/{verb}"] = {"post": operation(
            f"{summary} a rollout execution", tag, {**execution, **json_errors(*AUTH, 409)}, [APP_ID, execution_id])}
    return paths


def _health_client_paths() -> dict:
    report = {"deviceId": {"type": "string", "minLength": 1, "maxLength": 200},
              "platform": {"type": "string", "minLength": 1, "maxLength": 50},
              "channel": {"type": "string", "maxLength": 200}, "runtimeVersion": {"type": "string", "maxLength": 200},
              "events": {**array(ref("HealthEvent")), "minItems": 1, "maxItems": 500}}
    accepted = reply(status=204, description="Accepted (written in the next batch)")
    return {
        "/api/v1/apps/{app_id}/health": {"post": operation(
            "Report health events (launches, crashes, JS errors, custom)", "native client", {
                **accepted, **json_errors(400, 401, 404, 429)}, [APP_ID],
            body(obj({**report, "bundleId": INTEGER, "bundleVersion": {"type": "string", "maxLength": 200}},
                     required=["deviceId", "platform", "events"])), security=CLIENT_KEY)},
        "/v1/ota/health-metrics": {"post": operation(
            "AppDispatch's health metrics (projectSlug is the app slug, updateUuid an Expo update id)",
            "appdispatch", {**accepted, **json_errors(400, 404, 429)},
            request_body=body(obj({**report, "projectSlug": {"type": "string", "minLength": 1, "maxLength": 200},
                                   "updateUuid": nullable({"type": "string", "maxLength": 200})},
                                  required=["projectSlug", "deviceId", "platform", "events"])), security=PUBLIC)},
    }


# --- AppDispatch's management API (/v1/ota, X-Project) -------------------------------------------

def _appdispatch_paths() -> dict:
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
        return operation(summary, tag, responses, [project, *parameters], request_body)

    def listing(name, item):
        return reply(obj({name: array(item), "total": INTEGER}))

    def with_paging(schema: Schema) -> list:
        return [query(name, field.json_schema()) for name, field in schema.fields.items()]

    audit_entry = obj({"id": INTEGER, "action": STRING, "entity_type": STRING, "entity_id": STRING, "actor": STRING,
                       "details": {"type": "object"}, "createdAt": TIMESTAMP})
    return {
        "/v1/ota/builds": {
            "get": op("The project's builds, newest first", {**listing("builds", build), **json_errors(*errors)},
                      with_paging(appdispatch.LIST_BUILDS)),
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
                       {**reply(published, 201), **json_errors(*errors)}, [build_id], accepted(appdispatch.PUBLISH)),
        },
        "/v1/ota/updates": {
            "get": op("The project's updates, newest first", {**listing("updates", update), **json_errors(*errors)},
                      with_paging(appdispatch.LIST_UPDATES)),
            "post": op("Create an update: the same as publishing buildId",
                       {**reply(published, 201), **json_errors(*errors)}, request_body=accepted(appdispatch.NEW_UPDATE)),
        },
        "/v1/ota/updates/{update_id}": {
            "patch": op("Change an update's rollout, criticality, message or whether it is served",
                        {**reply(obj({"update": update})), **json_errors(*errors)}, [update_id],
                        accepted(appdispatch.UPDATE_CHANGES)),
            "delete": op("Delete an update (it stops being served)", {**reply(deleted), **json_errors(*errors)},
                         [update_id]),
        },
        "/v1/ota/updates/{update_id}/republish": {
            "post": op("Republish an update to channels (default: its own) with a new message",
                       {**reply(obj({"updates": array(update), "groupId": STRING}), 201), **json_errors(*errors, 409)},
                       [update_id], accepted(appdispatch.REPUBLISH, required=False)),
        },
        "/v1/ota/updates/{update_id}/history": {
            "get": op("What happened to an update, oldest first", {**reply(obj({"updateId": INTEGER, "history": array(
                {"type": "object"})})), **json_errors(*errors)}, [update_id]),
        },
        "/v1/ota/rollback": {
            "post": op("Roll a channel's devices of one platform and runtime version back (to the embedded update "
                       "unless rollbackToUpdateId)", {**reply(obj({"update": update}), 201),
                                                      **json_errors(*errors, 409)},
                       request_body=accepted(appdispatch.ROLLBACK)),
        },
        "/v1/ota/channels": {
            "get": op("The project's channels", {**reply(obj({"channels": array(channel)})), **json_errors(*errors)}),
            "post": op("Create a channel serving branchName (default: the branch of its name, made if missing)",
                       {**reply(obj({"channel": channel}), 201), **json_errors(*errors, 409, 422)},
                       request_body=accepted(appdispatch.NEW_CHANNEL)),
        },
        "/v1/ota/channels/{name}": {
            "patch": op("Point a channel at a branch, split a share of its devices to another, set its minimum "
                        "runtime version", {
                **reply(obj({"channel": channel})), **json_errors(*errors)}, [channel_name],
                accepted(appdispatch.CHANNEL_SETTINGS)),
            "delete": op("Delete a channel with its history", {**reply(obj({"deleted": BOOLEAN, "name": STRING})),
                                                              **json_errors(*errors)}, [channel_name]),
        },
        "/v1/ota/branches": {
            "get": op("The project's branches", {**reply(obj({"branches": array(branch)})), **json_errors(*errors)}),
            "post": op("Create a branch", {**reply(obj({"branch": branch}), 201), **json_errors(*errors, 409, 422)},
                       request_body=accepted(branches.NEW_BRANCH)),
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
                **reply(obj({"override": override}), 201), **json_errors(*errors)},
                request_body=accepted(branches.NEW_USER_OVERRIDE)),
        },
        "/v1/ota/user-overrides/{override_id}": {
            "delete": op("Unpin a user", {**reply(deleted), **json_errors(*errors)},
                         [path("override_id", schema=INTEGER)]),
        },
        "/v1/ota/audit-log": {
            "get": op("The project's audit log, newest first",
                      {**reply(obj({"entries": array(audit_entry)})), **json_errors(*errors)},
                      with_paging(appdispatch.AUDIT_QUERY)),
        },
        "/v1/ota/webhooks": {
            "get": op("The project's webhooks", {**reply(obj({"webhooks": array(webhook)})), **json_errors(*errors)}),
            "post": op("Add a webhook for the project's events (AppDispatch's or otabox's names)", {
                **reply(obj({"webhook": {"allOf": [webhook, obj({"secret": STRING})]}}), 201),
                **json_errors(*errors, 422)}, request_body=accepted(appdispatch.NEW_WEBHOOK)),
        },
        "/v1/ota/webhooks/{webhook_id}": {
            "patch": op("Change a webhook (isActive: false pauses it)", {**reply(obj({"webhook": webhook})),
                                                                        **json_errors(*errors, 422)},
                        [webhook_id], accepted(appdispatch.WEBHOOK_FIELDS)),
            "delete": op("Delete a webhook", {**reply(deleted), **json_errors(*errors)}, [webhook_id]),
        },
        "/v1/ota/webhooks/{webhook_id}/deliveries": {
            "get": op("A webhook's recent deliveries", {**reply(obj({"deliveries": array({"type": "object"})})),
                                                       **json_errors(*errors)},
                      [webhook_id, query("limit", {"type": "integer", "minimum": 1, "maximum": 500})]),
        },
    }


# --- otabox's own client protocol, uploads, downloads, service -----------------------------------

def _native_paths() -> dict:
    tag = "native client"
    offer = obj({"id": INTEGER, "version": STRING, "sha256": STRING, "size": INTEGER, "url": STRING,
                 "expiresAt": TIMESTAMP, "signature": STRING, "mandatory": BOOLEAN, "notes": STRING})
    signed = obj({"app": STRING, "channel": nullable(STRING), "platform": nullable({"enum": ["ios", "android"]}),
                  "version": nullable(STRING), "sha256": nullable(STRING), "releaseId": nullable(INTEGER),
                  "sequence": INTEGER, "issuedAt": TIMESTAMP, "expiresAt": TIMESTAMP})
    check_reply = obj({"updateAvailable": BOOLEAN, "bundle": offer, "reason": {"enum": list(REASONS)},
                       "revertToBuiltin": {"const": True},
                       "blocked": {"enum": ["major", "minor", "patch", "min_update_version"]},
                       "signed": signed, "signedSignature": {
                           "type": "string", "description": "Base64 Ed25519 signature (GET /api/v1/signing-key) over "
                                                            "the canonical JSON of `signed`: keys sorted, no spaces, UTF-8"}},
                      required=["updateAvailable", "signed", "signedSignature"])
    event = obj({"deviceId": {"type": "string", "minLength": 1, "maxLength": 200},
                 "type": {"enum": ["downloaded", "installed", "failed", "rolled_back"]},
                 "bundleId": nullable(INTEGER), "message": STRING}, required=["deviceId", "type"])
    return {
        "/api/v1/apps/{app_id}/check": {
            "get": operation("Ask whether an update is available", tag, {
                **reply(check_reply), **json_errors(400, 401, 404, 429)},
                [APP_ID, query("deviceId", {"type": "string", "maxLength": 200}),
                 query("platform", {"enum": ["ios", "android"]}),
                 query("version", description="The running bundle's version; empty or 'builtin' for the binary's"),
                 query("nativeVersion"), query("nativeBuild", {"type": "string", "pattern": "^[0-9]*$"}),
                 query("channel"), query("userId", {"type": "string", "maxLength": 200},
                                         description="The user of the device (a user override pins it to a branch)")],
                security=CLIENT_KEY),
        },
        "/api/v1/apps/{app_id}/events": {
            "post": operation("Report downloads, installs, failures and rollbacks", tag, {
                **reply(obj({"status": {"const": "ok"}, "stored": INTEGER})), **json_errors(400, 401, 404, 429)},
                [APP_ID], body({"oneOf": [event, {**array(event), "minItems": 1, "maxItems": 1000}]}),
                security=CLIENT_KEY),
        },
    }


def _transfer_paths() -> dict:
    signed = [query("expires", INTEGER, required=True), query("signature", required=True)]
    blob = {"type": "string", "contentMediaType": "application/octet-stream"}
    return {
        "/uploads/{upload_id}": {
            "put": operation("The body of a two-step upload (the signed URL is the permission; it takes one body, a "
                             "second PUT gets 409)", "transfer", {
                **reply(obj({"uploadId": STRING, "received": {"const": True}})),
                **json_errors(403, 404, 409, 410, 413, 422, 507)}, [path("upload_id"), *signed],
                body(blob, "application/octet-stream"), security=PUBLIC),
        },
        "/dl/{sha256}": {
            "get": operation("Download a blob by signed URL (Range and ETag supported), always as an attachment "
                             "in a script-less sandbox; active content types are sent as application/octet-stream",
                             "transfer", {
                **reply(blob, media_type="*/*"), **reply(blob, 206, "*/*"), **reply(status=304),
                **json_errors(403, 404, 416)},
                [path("sha256", "The blob's SHA-256 in hex"),
                 query("type", description="zip, file or a content type; part of the signature"), *signed,
                 header("Range")], security=PUBLIC),
        },
    }


def _service_paths() -> dict:
    return {
        "/healthz": {"get": operation("Liveness", "service", reply(obj({"status": {"const": "ok"}})),
                                      security=PUBLIC)},
        "/metrics": {"get": operation("Prometheus metrics (needs OTABOX_METRICS_TOKEN unless OTABOX_METRICS_PUBLIC=1)",
                                      "service", {
            **reply(STRING, media_type=TEXT), **json_errors(401)}, security=[{}, {"metricsToken": []}])},
    }


# --- CodePush ----------------------------------------------------------------------------------

def _codepush_client_paths() -> dict:
    tag = "codepush client"
    v01 = "/v0.1/public/codepush"

    def check(snake: bool) -> dict:
        names = ("deployment_key", "app_version", "package_hash", "label", "client_unique_id", "is_companion") \
            if snake else ("deploymentKey", "appVersion", "packageHash", "label", "clientUniqueId", "isCompanion")
        parameters = [query(names[0], {"type": "string", "pattern": "^[A-Za-z0-9_-]{10,100}$"}, required=True),
                      query(names[1], description="The binary's version", required=True),
                      query(names[2]), query(names[3]), query(names[4], {"type": "string", "maxLength": 200}),
                      query(names[5], {"enum": ["true", "false"]})]
        info = obj({"update_info": ref("CodePushUpdateInfoSnake")}) if snake \
            else obj({"updateInfo": ref("CodePushUpdateInfo")})
        return operation("Ask whether an update is available", tag, {**reply(info), **text_errors(400, 404, 429)},
                         parameters, security=PUBLIC)

    def report(what: str) -> dict:
        return operation(f"Report a {what}", tag, {**reply(STRING, media_type=TEXT),
                                                    **text_errors(400, 404, 429)},
                         request_body=body(ref("CodePushStatusReport")), security=PUBLIC)

    return {
        "/updateCheck": {"get": check(snake=False)},
        f"{v01}/update_check": {"get": check(snake=True)},
        "/reportStatus/deploy": {"post": report("deployment (install) result")},
        f"{v01}/report_status/deploy": {"post": report("deployment (install) result")},
        "/reportStatus/download": {"post": report("download")},
        f"{v01}/report_status/download": {"post": report("download")},
    }


def _codepush_management_paths() -> dict:
    tag = "codepush management"
    app = "/apps/{app_name}"
    deployment = f"{app}/deployments/{{dep}}"
    app_name = path("app_name", "The app's slug, id or (when unique) name")
    dep = path("dep", "The deployment (channel) name; case-insensitive when unambiguous")
    errors = (*KEYED, 404)
    app_reply = obj({"app": ref("CodePushApp")})
    deployment_reply = obj({"deployment": ref("CodePushDeployment")})
    package_reply = obj({"package": ref("CodePushPackage")})
    name_body = body(obj({"name": {"type": "string", "minLength": 1, "maxLength": 200}}))
    package_info = body(obj({"packageInfo": ref("CodePushPackageInfo")}, required=[]), required=False)
    too_large = {"413": {"description": STATUS_TEXT[413],
                         "content": {TEXT: {"schema": STRING}, JSON: {"schema": ref("Error")}}}}
    return {
        "/authenticated": {"get": operation("Check the access key", tag, {
            **reply(obj({"authenticated": {"const": True}})), **text_errors(*KEYED)})},
        "/account": {"get": operation("The account behind the access key", tag, {
            **reply(obj({"account": obj({"name": STRING, "email": STRING, "linkedProviders": array(STRING)})})),
            **text_errors(*KEYED)})},
        "/apps": {
            "get": operation("List apps", tag, {**reply(obj({"apps": array(ref("CodePushApp"))})),
                                                **text_errors(*KEYED)}),
            "post": operation("Add an app", tag, {**reply(app_reply, 201), **text_errors(400, *KEYED, 409, 422)},
                              request_body=name_body),
        },
        app: {
            "get": operation("An app", tag, {**reply(app_reply), **text_errors(*errors)}, [app_name]),
            "patch": operation("Rename an app", tag, {**reply(app_reply), **text_errors(400, *errors, 409)},
                               [app_name], name_body),
            "delete": operation("Delete an app", tag, {**reply(status=204), **text_errors(*errors)}, [app_name]),
        },
        f"{app}/deployments": {
            "get": operation("List deployments", tag, {
                **reply(obj({"deployments": array(ref("CodePushDeployment"))})), **text_errors(*errors)}, [app_name]),
            "post": operation("Add a deployment (optionally keeping an existing key)", tag, {
                **reply(obj({"deployment": obj({"name": STRING, "key": STRING})}), 201),
                **text_errors(400, *errors, 409, 422)}, [app_name],
                body(obj({"name": {"type": "string", "minLength": 1, "maxLength": 200},
                          "key": {"type": "string", "pattern": "^[A-Za-z0-9_-]{10,100}$"}}, required=["name"]))),
        },
        deployment: {
            "get": operation("A deployment", tag, {**reply(deployment_reply), **text_errors(*errors)},
                             [app_name, dep]),
            "patch": operation("Rename a deployment", tag, {**reply(deployment_reply),
                                                            **text_errors(400, *errors, 409)},
                               [app_name, dep], name_body),
            "delete": operation("Delete a deployment", tag, {**reply(status=204), **text_errors(*errors)},
                                [app_name, dep]),
        },
        f"{deployment}/history": {
            "get": operation("Release history, oldest first", tag, {
                **reply(obj({"history": array(ref("CodePushPackage"))})), **text_errors(*errors)}, [app_name, dep]),
            "delete": operation("Clear the history (bundles no other history uses go too)", tag, {
                **reply(status=204), **text_errors(*errors)}, [app_name, dep]),
        },
        f"{deployment}/metrics": {"get": operation("Counts per label and app version", tag, {
            **reply(obj({"metrics": {"type": "object", "additionalProperties": obj(
                {"active": INTEGER, "downloaded": INTEGER, "failed": INTEGER, "installed": INTEGER})}})),
            **text_errors(*errors)}, [app_name, dep])},
        f"{deployment}/release": {
            "post": operation("Release a package (a zip of the JS bundle and assets)", tag, {
                **reply(package_reply, 201), **text_errors(400, *errors, 409, 422, 507), **too_large}, [app_name, dep],
                body(obj({"package": {"type": "string", "contentMediaType": "application/zip"},
                          "packageInfo": {"type": "string", "contentMediaType": JSON,
                                          "description": "CodePushPackageInfo as a JSON string"}},
                         required=["package", "packageInfo"]), "multipart/form-data")),
            "patch": operation("Change the latest (or the labelled) release", tag, {
                **reply(package_reply), **reply(status=204), **text_errors(400, *errors, 409)}, [app_name, dep],
                package_info),
        },
        f"{app}/deployments/{{src}}/promote/{{dest}}": {"post": operation(
            "Promote a release to another deployment", tag, {**reply(package_reply, 201),
                                                             **text_errors(400, *errors, 409)},
            [app_name, path("src"), path("dest")], package_info)},
        f"{deployment}/rollback": {"post": operation("Roll back to the previous release", tag, {
            **reply(package_reply, 201), **text_errors(*errors, 409)}, [app_name, dep])},
        f"{deployment}/rollback/{{label}}": {"post": operation("Roll back to the labelled release", tag, {
            **reply(package_reply, 201), **text_errors(*errors, 409)}, [app_name, dep, path("label")])},
    }


def _codepush_api_paths() -> dict:
    """The multi-tenant CodePush server's paths under /api/v1: the same operations as above, with
    errors in otabox's JSON shape."""
    tag = "codepush management"
    plain = _codepush_management_paths()
    app = "/api/v1/apps/{app_name}"
    deployment = f"{app}/deployments/{{dep}}"

    def as_json(operation_: dict) -> dict:
        responses = {status: response if status.startswith("2") else json_errors(int(status))[status]
                     for status, response in operation_["responses"].items()}
        return {**operation_, "responses": responses}

    metrics = obj({"totalActive": INTEGER, "downloaded": INTEGER, "installed": INTEGER, "failed": INTEGER})
    app_and_dep = plain["/apps/{app_name}/deployments/{dep}/history"]["get"]["parameters"]
    return {
        f"{app}/deployments": {m: as_json(plain["/apps/{app_name}/deployments"][m]) for m in ("get", "post")},
        deployment: {m: as_json(plain["/apps/{app_name}/deployments/{dep}"][m]) for m in ("patch", "delete")},
        f"{deployment}/release": {"post": as_json(plain["/apps/{app_name}/deployments/{dep}/release"]["post"])},
        f"{deployment}/releases": {"get": operation("Releases, newest first, with their metrics (rollout 100 once "
                                                    "complete)", tag, {
            **reply(obj({"releases": array({"allOf": [ref("CodePushPackage"), obj({"metrics": metrics})]})})),
            **json_errors(*KEYED, 404)}, app_and_dep)},
        f"{deployment}/releases/{{label}}": {"patch": operation(
            "Change the labelled release; the rollout may be lowered (devices that have the release keep it)", tag, {
            **reply(obj({"package": ref("CodePushPackage")})), **reply(status=204),
            **json_errors(400, *KEYED, 404, 409)}, [*app_and_dep, path("label")],
            body(obj({"rollout": {"type": "integer", "minimum": 1, "maximum": 100}, "isMandatory": BOOLEAN,
                      "isDisabled": BOOLEAN, "description": STRING, "appVersion": STRING}, required=[])))},
    }


def _team_schemas() -> dict:
    return {
        "User": obj({"email": STRING, "role": {"enum": ["admin", "member"]}, "disabled": BOOLEAN,
                     "serviceAccount": BOOLEAN, "createdAt": TIMESTAMP, "lastLoginAt": nullable(TIMESTAMP)}),
        "AccessToken": obj({
            "friendlyName": STRING, "role": ROLE, "appIds": nullable(array(INTEGER)),
            "appSlugs": nullable(array(STRING)), "createdBy": STRING, "createdAt": TIMESTAMP,
            "lastUsedAt": nullable(TIMESTAMP), "expires": nullable(TIMESTAMP), "expiresAt": nullable(TIMESTAMP)}),
        "Collaborator": obj({"email": STRING, "permission": PERMISSION, "createdAt": TIMESTAMP}),
        "CodePushAccessKey": obj({
            "name": STRING, "friendlyName": STRING, "description": STRING, "createdBy": STRING,
            "createdTime": INTEGER, "expires": INTEGER, "isSession": BOOLEAN}, required=[
            "friendlyName", "description", "createdBy", "createdTime", "expires", "isSession"]),
    }


def _team_paths() -> dict:
    """People, sessions, access tokens and collaborators under /api/v1."""
    api = "/api/v1"
    app = f"{api}/apps/{{app_id}}"
    tag = "people"
    session = obj({"user": ref("User"), "csrfToken": nullable(STRING)})
    listing = reply(obj({"collaborators": array(ref("Collaborator"))}))
    email = {"type": "string", "examples": ["someone@example.com"]}
    csrf = header("X-CSRF-Token", description="Required with the session cookie (from POST /api/v1/session)")
    return {
        f"{api}/session": {
            "post": operation("Sign in with email and password: a session cookie and the CSRF token", tag, {
                **reply(session, description="Signed in; the reply sets the otabox_session cookie"),
                **json_errors(400, 401, 413, 415, 429)},
                request_body=body(obj({"email": email, "password": STRING})), security=PUBLIC),
            "get": operation("Who is signed in, with the CSRF token again for a session cookie", tag, {
                **reply(session), **json_errors(*KEYED)}),
            "delete": operation("Sign out: the session ends and its cookie is cleared", tag, {
                **reply(obj({"signedOut": BOOLEAN})), **json_errors(*AUTH)}, [csrf]),
        },
        f"{api}/auth/tokens": {
            "get": operation("The caller's access tokens (never their secrets)", tag, {
                **reply(obj({"tokens": array({"allOf": [ref("AccessToken"), obj({"current": BOOLEAN})]})})),
                **json_errors(*KEYED)}),
            "post": operation("Create an access token (shown once), with no more rights than the caller", tag, {
                **reply({"allOf": [ref("AccessToken"), obj({"accessToken": STRING})]}, 201),
                **json_errors(400, *KEYED, 409)}, [csrf], body(obj({
                    "friendlyName": {"type": "string", "minLength": 1, "maxLength": 100},
                    "ttl": {"type": "integer", "minimum": 1, "description": "Milliseconds (default 60 days)"},
                    "role": ROLE, "appIds": array({"anyOf": [INTEGER, STRING]})}, required=["friendlyName"]))),
        },
        f"{api}/auth/tokens/{{token_name}}": {
            "delete": operation("Revoke an access token the caller manages and every token minted from it", tag, {
                **reply(obj({"deleted": BOOLEAN, "friendlyName": STRING, "alsoRevoked": array(STRING)})),
                **json_errors(*AUTH)},
                [path("token_name", "The token's friendlyName"), csrf]),
        },
        f"{app}/collaborators": {
            "get": operation("The app's collaborators and their permissions", tag, {
                **listing, **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Add a collaborator or change their permission (Owner only)", tag, {
                **reply(ref("Collaborator"), 201), **reply(ref("Collaborator")), **json_errors(400, *AUTH)},
                [APP_ID, csrf], body(obj({"email": email, "permission": PERMISSION}))),
        },
        f"{app}/collaborators/{{email}}": {
            "delete": operation("Remove a collaborator (Owner only, or the collaborator themselves)", tag, {
                **reply(obj({"deleted": BOOLEAN, "email": STRING})), **json_errors(400, *AUTH)},
                [APP_ID, path("email", "The collaborator's e-mail address"), csrf]),
        },
        f"{app}/transfer": {
            "post": operation("Make a user the app's only Owner (other Owners become Collaborators)", tag, {
                **listing, **json_errors(400, *AUTH, 409)}, [APP_ID, csrf], body(obj({"email": email}))),
        },
    }


def _codepush_account_paths() -> dict:
    tag = "codepush management"
    app_name = path("app_name", "The app's slug, id or (when unique) name")
    key_name = path("key_name", "The access key's friendlyName")
    email = path("email", "A user's e-mail address")
    key_reply = obj({"accessKey": ref("CodePushAccessKey")})
    key_change = {"friendlyName": {"type": "string", "minLength": 1, "maxLength": 100},
                  "description": {"type": "string", "description": "What older CLIs send for friendlyName"},
                  "ttl": {"anyOf": [{"type": "integer", "minimum": 0}, STRING]}}
    key_body = obj({**key_change, "createdBy": STRING}, required=[])
    collaborators = obj({"collaborators": {"type": "object", "additionalProperties": obj({
        "isCurrentAccount": BOOLEAN, "permission": PERMISSION})}})
    errors = (*KEYED, 404)
    return {
        "/accessKeys": {
            "get": operation("The account's access keys and sessions (isSession), secrets hidden", tag, {
                **reply(obj({"accessKeys": array(ref("CodePushAccessKey"))})), **text_errors(*KEYED)}),
            "post": operation("Create an access key (its secret is the reply's name, shown once)", tag, {
                **reply(key_reply, 201), **text_errors(400, *KEYED, 409)}, request_body=body(key_body)),
        },
        "/accessKeys/{key_name}": {
            "get": operation("An access key", tag, {**reply(key_reply), **text_errors(*errors)}, [key_name]),
            "patch": operation("Rename an access key or give it a new expiry (now + ttl ms)", tag, {
                **reply(key_reply), **text_errors(400, *errors, 409)}, [key_name], body(obj(key_change, required=[]))),
            "delete": operation("Remove an access key", tag, {**reply(status=204), **text_errors(*errors)},
                                [key_name]),
        },
        "/sessions/{created_by}": {
            "delete": operation("End the account's sessions started from one machine or address", tag, {
                **reply(status=204), **text_errors(*errors)}, [path("created_by")]),
        },
        "/apps/{app_name}/collaborators": {
            "get": operation("The app's collaborators", tag, {**reply(collaborators), **text_errors(*errors)},
                             [app_name]),
        },
        "/apps/{app_name}/collaborators/{email}": {
            "post": operation("Add a collaborator", tag, {**reply(status=201), **text_errors(400, *errors, 409)},
                              [app_name, email]),
            "delete": operation("Remove a collaborator (or leave the app)", tag, {
                **reply(status=204), **text_errors(400, *errors)}, [app_name, email]),
        },
        "/apps/{app_name}/transfer/{email}": {
            "post": operation("Transfer the app to another user", tag, {
                **reply(status=201), **text_errors(400, *errors, 409)}, [app_name, email]),
        },
    }


# --- capacitor-updater, Flutter, Expo -------------------------------------------------------------

def _capgo_paths() -> dict:
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


def _flutter_paths() -> dict:
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


def queried(schema: Schema) -> list:
    """The query parameters a route accepts, from the schema it validates its query with."""
    return [query(name, field.json_schema(), required=field.required) for name, field in schema.fields.items()]


def _koolbase_management_paths() -> dict:
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
                **reply(bundle), **json_errors(400, *AUTH)}, [project, bundle_id],
                accepted(koolbase_management.MANDATORY, required=False)),
            "delete": operation("Delete the bundle's channel version, and the bundle and its file when nothing "
                                "else uses them", tag, {**reply(status=204), **json_errors(400, *AUTH, 409)},
                                [project, bundle_id]),
        },
    }


def _capgo_management_paths() -> dict:
    tag = "capgo management"
    key = [{"capgoKey": []}]
    errors = json_errors(400, *AUTH)
    status = obj({"status": {"const": "ok"}})
    version = obj({"id": {"type": ["integer", "null"]}, "name": STRING})
    channel = obj({"id": INTEGER, "created_at": TIMESTAMP, "name": STRING, "app_id": STRING, "version": version,
                   "created_by": STRING, "updated_at": TIMESTAMP, "public": BOOLEAN,
                   "disableAutoUpdateUnderNative": BOOLEAN,
                   "disableAutoUpdate": {"enum": [*capgo_management.DISABLE_AUTO_UPDATE, "patch"]},
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
                                        **errors}, queried(schema), security=key)

    def change(summary, schema, conflict=False):
        return operation(summary, tag, {**reply(status), **errors, **(json_errors(409) if conflict else {})},
                         request_body=accepted(schema), security=key)

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


def _expo_paths() -> dict:
    bounded = {"type": "string", "maxLength": 200}
    signed = [query("expires", INTEGER, required=True), query("signature", required=True)]
    blob = {"type": "string", "contentMediaType": "application/octet-stream"}
    headers = [header("expo-protocol-version", {"enum": ["0", "1"]}),
               header("expo-platform", {"enum": ["ios", "android"]}, required=True),
               header("expo-runtime-version", {**bounded, "minLength": 1}, required=True),
               header("expo-channel-name", bounded), header("eas-client-id", bounded),
               header("expo-device-id", bounded, "The device id for rollouts (AppDispatch's SDK); else EAS-Client-ID"),
               header("expo-current-update-id", bounded), header("expo-embedded-update-id", bounded),
               header("expo-recent-failed-update-ids", description="A structured-fields list of strings"),
               header("expo-expect-signature", description="A structured-fields dictionary (sig, keyid, alg)"),
               header("accept")]
    multipart = {"200": {"description": "A manifest or a directive (parts named manifest/directive, extensions)",
                         "content": {"multipart/mixed": {"schema": {"type": "object"}}}}}
    rollback = obj({"runtimeVersion": {"type": "string", "minLength": 1, "maxLength": 200},
                    "platform": {"enum": ["ios", "android"]}, "channel": {"type": "string", "minLength": 1},
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
                **reply(blob, media_type="*/*"), **reply(blob, 206, "*/*"),
                "226": {"description": "A BSDIFF40 patch", "content": {"application/octet-stream": {"schema": blob}}},
                **reply(status=304), **json_errors(403, 404, 416)},
            [APP_ID, path("sha256", "The launch asset's SHA-256 in hex"), *signed, header("Range"), header("a-im"),
             header("expo-platform", {"enum": ["ios", "android"]}), header("expo-current-update-id", bounded),
             header("expo-requested-update-id", bounded), header("expo-embedded-update-id", bounded)],
            security=PUBLIC)},
        "/api/v1/apps/{app_id}/rollback": {"post": operation(
            "Roll one platform and runtime version of a channel back to the embedded update or to an update",
            "expo", {**reply(obj({"release": ref("Release")}), 201), **json_errors(400, *AUTH, 409)}, [APP_ID],
            body(rollback))},
    }


# --- the document --------------------------------------------------------------------------------

MANAGEMENT_TAGS = frozenset({"management", "people", "health and rollouts", "codepush management",
                             "koolbase management", "capgo management",
                             "appdispatch management"})
"""Tags of the management operations: each declares the fields it accepts (web.accepts) and refuses
any other with a 400 that names it (unknown_field)."""


def _refusing_unknown_fields(paths: dict) -> None:
    """Document the 400 of every management operation (JSON under /api/v1, code-push-server's plain text elsewhere)."""
    for route, item in paths.items():
        for op in item.values():
            if op["tags"][0] in MANAGEMENT_TAGS and "400" not in op["responses"]:
                op["responses"].update(json_errors(400) if route.startswith(("/api/v1/", "/v1/ota/")) else text_errors(400))


def document(base_url: str | None = None) -> dict:
    """The whole OpenAPI 3.1 document; `base_url` (e.g. "https://ota.example.com") becomes its server.

    The builders reuse small schema dicts; the copy returned shares none of them with this module,
    so a caller may change it freely."""
    paths = {}
    for section in (_management_paths, _team_paths, _native_paths, _transfer_paths, _service_paths,
                    _codepush_client_paths, _codepush_management_paths, _codepush_api_paths, _codepush_account_paths,
                    _capgo_paths, _capgo_management_paths, _flutter_paths, _koolbase_management_paths, _expo_paths,
                    _ofrep_paths, _health_and_rollout_paths, _health_client_paths, _appdispatch_paths):
        paths.update(section())
    _refusing_unknown_fields(paths)
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "otabox", "version": __version__,
                 "description": "Management API and client update protocols of otabox, a self-hosted "
                                "over-the-air update server. Management errors are "
                                "{\"error\": {\"code\", \"message\", \"details\"}}; CodePush routes answer "
                                "plain-text errors, capacitor-updater routes {kind, error, message} and "
                                "OFREP routes {key, errorCode, errorDetails}, as their clients expect. "
                                "Management responses carry X-RateLimit-Limit, "
                                "X-RateLimit-Remaining and X-RateLimit-Reset (unix seconds): requests per "
                                "hour per token or session, or per address without one; past the limit, 429 "
                                "with Retry-After."},
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "responses": _error_responses(),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "An otabox API key (otabox keys create) or access token "
                                              "(POST /api/v1/auth/tokens); the code-push CLI's access key"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "otabox_session",
                                  "description": "The dashboard's session (POST /api/v1/session); changes "
                                                 "made with it need the X-CSRF-Token header"},
                "clientKey": {"type": "apiKey", "in": "header", "name": "X-Client-Key",
                              "description": "The app's public client key"},
                "clientKeyBearer": {"type": "http", "scheme": "bearer",
                                    "description": "The app's public client key (OFREP providers send it so)"},
                "capgoKey": {"type": "apiKey", "in": "header", "name": "authorization",
                             "description": "An otabox API key or access token, as the whole header (Capgo's API)"},
                "flutterKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                               "description": "The app's public client key"},
                "metricsToken": {"type": "http", "scheme": "bearer",
                                 "description": "OTABOX_METRICS_TOKEN, when set"},
            },
        },
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
    }
    if base_url:
        doc["servers"] = [{"url": base_url}]
    return copy.deepcopy(doc)
