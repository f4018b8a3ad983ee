"""Feature flags, segments and evaluation contexts (api/flags.py)."""
from __future__ import annotations

from ...core import flag_eval
from ...core import segments
from ..shapes import (
    ANY, APP_ID, array, AUTH, BOOLEAN, CHANNEL, DELETED, INTEGER, json_errors, nullable, obj, operation, path, ref,
    reply, STRING, TIMESTAMP)


RULE_TYPES = {"enum": list(flag_eval.RULE_TYPES)}
CONDITION = obj({"attribute": STRING, "operator": {"enum": list(flag_eval.OPERATORS)},
                 "valuesJson": array({"type": ["string", "number", "boolean"]})})
"""A segment's condition as the segment shows it."""


def schemas() -> dict:
    variation = obj({"id": INTEGER, "name": STRING, "value": ANY})
    rule = obj({"id": INTEGER, "flagId": INTEGER, "ruleType": RULE_TYPES, "ruleConfig": {"type": "object"},
                "variantValue": ANY, "priority": INTEGER, "channelName": nullable(STRING), "createdAt": TIMESTAMP})
    flag = obj({
        "id": INTEGER, "key": STRING, "name": STRING, "flagType": {"enum": list(flag_eval.FLAG_TYPES)},
        "defaultValue": ANY, "enabled": BOOLEAN, "description": STRING, "variations": array(variation),
        "channels": array(obj({"channelName": STRING, "enabled": BOOLEAN, "defaultValue": ANY, "active": BOOLEAN})),
        "rules": array(ref("FlagRule")), "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP})
    segment = obj({"id": INTEGER, "key": STRING, "name": STRING, "description": STRING,
                   "matchType": {"enum": list(segments.MATCH_TYPES)}, "conditions": array(CONDITION),
                   "usedBy": array(obj({"flagId": INTEGER, "flagKey": STRING, "ruleId": INTEGER})),
                   "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP})
    context = obj({"id": INTEGER, "kind": {"enum": list(flag_eval.CONTEXT_KINDS)},
                   "targetingKey": STRING, "name": STRING, "attributes": {"type": "object"}, "evaluations": INTEGER,
                   "source": {"enum": ["manual", "evaluation"]}, "firstSeen": TIMESTAMP, "lastSeen": TIMESTAMP})
    return {"Flag": flag, "FlagRule": rule, "Segment": segment, "FlagContext": context}


def paths() -> dict:
    app = "/api/v1/apps/{app_id}"
    tag = "management"
    flag = f"{app}/flags/{{flag_id}}"
    flag_id = path("flag_id", schema=INTEGER)
    segment_id, context_id = path("segment_id", schema=INTEGER), path("context_id", schema=INTEGER)
    deleted = reply(DELETED)
    return {
        f"{app}/flags": {
            "get": operation("The app's feature flags with variations, channel settings and rules", tag, {
                **reply(obj({"flags": array(ref("Flag"))})), **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Create a flag (boolean flags get on/off variations when none are given)", tag, {
                **reply(ref("Flag"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID]),
        },
        flag: {
            "get": operation("A flag", tag, {**reply(ref("Flag")), **json_errors(*AUTH)}, [APP_ID, flag_id]),
            "patch": operation("Change a flag's name, description, switch, default value or variations", tag, {
                **reply(ref("Flag")), **json_errors(400, *AUTH, 409)}, [APP_ID, flag_id]),
            "delete": operation("Delete a flag with its rules and counts", tag, {
                **deleted, **json_errors(*AUTH)}, [APP_ID, flag_id]),
        },
        f"{flag}/variations/{{variation_id}}": {
            "patch": operation("Rename a variation or change its value (wherever it is served)", tag, {
                **reply(ref("Flag")), **json_errors(400, *AUTH, 409)},
                [APP_ID, flag_id, path("variation_id", schema=INTEGER)]),
        },
        f"{flag}/env/{{name}}": {
            "patch": operation("A flag's switch and default value in one channel", tag, {
                **reply(ref("Flag")), **json_errors(400, *AUTH, 409)}, [APP_ID, flag_id, CHANNEL]),
        },
        f"{flag}/rules": {
            "post": operation("Add a targeting rule (lowest priority first; first match wins)", tag, {
                **reply(ref("FlagRule"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID, flag_id]),
        },
        f"{flag}/rules/{{rule_id}}": {
            "patch": operation("Change a rule", tag, {**reply(ref("FlagRule")), **json_errors(400, *AUTH, 409)},
                               [APP_ID, flag_id, path("rule_id", schema=INTEGER)]),
            "delete": operation("Delete a rule", tag, {**deleted, **json_errors(*AUTH)},
                                [APP_ID, flag_id, path("rule_id", schema=INTEGER)]),
        },
        f"{flag}/evaluations": {
            "get": operation("Evaluations per day and variant", tag, {**reply(obj({
                "flagId": INTEGER, "key": STRING, "days": INTEGER, "since": STRING,
                "evaluations": array(obj({"day": STRING, "variant": STRING, "count": INTEGER})),
                "totals": {"type": "object", "additionalProperties": INTEGER}})), **json_errors(400, *AUTH)},
                [APP_ID, flag_id]),
        },
        f"{flag}/health": {
            "get": operation("Crash and error rates per variant, from health reports' flagStates", tag, {**reply(obj({
                "flagId": INTEGER, "key": STRING, "days": INTEGER, "variants": array(obj({
                    "variant": STRING, "value": STRING, "launches": INTEGER, "crashes": INTEGER, "jsErrors": INTEGER,
                    "crashRate": nullable({"type": "number"}), "errorRate": nullable({"type": "number"}),
                    "crashFreeRate": nullable({"type": "number"}),
                    "days": array(obj({"day": STRING, "launches": INTEGER, "crashes": INTEGER,
                                       "jsErrors": INTEGER}))}))})), **json_errors(400, *AUTH)},
                [APP_ID, flag_id]),
        },
        f"{app}/segments": {
            "get": operation("The app's segments", tag, {
                **reply(obj({"segments": array(ref("Segment"))})), **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Create a segment (the key is made from the name when not given)", tag, {
                **reply(ref("Segment"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID]),
        },
        f"{app}/segments/{{segment_id}}": {
            "get": operation("A segment with the rules that use it", tag, {
                **reply(ref("Segment")), **json_errors(*AUTH)}, [APP_ID, segment_id]),
            "patch": operation("Change a segment (not its key)", tag, {
                **reply(ref("Segment")), **json_errors(400, *AUTH)}, [APP_ID, segment_id]),
            "delete": operation("Delete a segment no rule uses", tag, {**deleted, **json_errors(*AUTH, 409)},
                                [APP_ID, segment_id]),
        },
        f"{app}/contexts": {
            "get": operation("Evaluation contexts, most recently seen first", tag, {
                **reply(obj({"contexts": array(ref("FlagContext")), "total": INTEGER})), **json_errors(400, *AUTH)},
                [APP_ID]),
            "post": operation("Create a context by hand (to try targeting before devices report)", tag, {
                **reply(ref("FlagContext"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID]),
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
