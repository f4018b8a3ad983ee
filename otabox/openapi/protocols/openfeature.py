"""OpenFeature's remote evaluation protocol and on-device flag definitions (protocols/openfeature/)."""
from __future__ import annotations

from ...core import flag_eval
from ...protocols.openfeature import ofrep
from ..api.flags import RULE_TYPES
from ..shapes import (
    ANY, array, body, BOOLEAN, error_replies, header, INTEGER, JSON, json_errors, obj, operation, path, query, ref,
    reply, STRING)


def schemas() -> dict:
    metadata = {"type": "object", "additionalProperties": {"type": ["boolean", "string", "number"]}}
    reasons = [flag_eval.STATIC, flag_eval.TARGETING_MATCH, flag_eval.SPLIT, flag_eval.DEFAULT, flag_eval.DISABLED]
    success = obj({"key": STRING, "value": ANY, "reason": {"enum": reasons}, "variant": STRING, "metadata": metadata})
    failure = obj({"key": STRING, "errorCode": {"enum": list(ofrep.ERROR_CODES)},
                   "errorDetails": STRING}, required=["errorCode", "errorDetails"])
    return {"OfrepSuccess": success, "OfrepFailure": failure}


def paths() -> dict:
    tag = "feature flags (OFREP)"
    security = [{"clientKey": []}, {"clientKeyBearer": []}]
    context = {"type": "object", "properties": {"targetingKey": STRING, "kind": STRING, "channel": STRING},
               "additionalProperties": True}
    request = body(obj({"context": context}, required=[]))
    failure = {JSON: {"schema": ref("OfrepFailure")}}
    errors = {**error_replies((400, 401, 413, 429), failure)}
    definition_rule = obj({"id": INTEGER, "priority": INTEGER, "ruleType": RULE_TYPES, "variantValue": ANY,
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
            "The flags that are on in a channel, with rules and variations, for on-device evaluation (public "
            "when the app's publicFlagDefinitions is on, else with the client key)", tag, {
                **reply(obj({"channel": STRING, "flags": array(definition)})), **reply(status=304),
                **json_errors(400, 401, 404, 429)},
            [path("project_slug", "The app's slug"), query("channel"), header("If-None-Match")],
            security=[{}, *security])},
    }
