"""AppDispatch's feature flags at `/v1/ota/flags*` (with `X-Project`, as management.py's routes):
flags, their variations, per-channel `env` settings, targeting rules, evaluation counts and flag
health, over core/flags.py, flag_contexts.py and health.py.

Flag values: the document writes them as text (`"value": "true"` for a boolean flag's variation,
`"variantValue": "true"` in rules, numbers and JSON as their text), while otabox stores a flag's values
typed. `typed_value` reads both: a string given for a boolean, number or JSON flag is parsed as the
JSON it spells ("true" → true, "42" → 42, '{"a": 1}' → {"a": 1}); typed JSON passes as it is; a string
flag's values stay strings. What is stored and answered (here, in OFREP and in the flag definitions)
is typed, so a client never reads the string "false" where it expects a boolean.

The document shows no answers; as for builds and updates, one flag comes back as `{"flag": ...}`,
rules as `{"rule": ...}`, lists under their plural. Errors are otabox's."""
from __future__ import annotations

import json

from flask import Blueprint, jsonify

from ...core import flag_contexts, flags, telemetry
from ...core import flag_eval as ev
from ...errors import BadRequest
from ...fields import Schema, Whole
from ...store.models import Flag, FlagVariation
from ...web import accepts, actor, body, query
from .management import project

bp = Blueprint("appdispatch_flags", __name__)
FLAG = "/v1/ota/flags/<flag_id>"
DAYS = Schema({"days": Whole(1, 90, default=7)})


def typed_value(flag_type: str, value):
    """A flag value as the document writes it (text) or typed, as the flag's type holds it; a text
    that spells no such value is passed on for the core to refuse by name."""
    if flag_type == "string" or not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    if flag_type == "boolean":
        return parsed if isinstance(parsed, bool) else value
    if flag_type == "json":
        return parsed if isinstance(parsed, (dict, list)) else value
    return parsed if isinstance(parsed, (int, float)) and not isinstance(parsed, bool) else value


def _flag_input(flag_type: str, data: dict) -> dict:
    data = dict(data)
    if "defaultValue" in data:
        data["defaultValue"] = typed_value(flag_type, data["defaultValue"])
    if isinstance(data.get("variations"), list):
        data["variations"] = [{**v, "value": typed_value(flag_type, v["value"])} if isinstance(v, dict) and "value"
                              in v else v for v in data["variations"]]
    return data


def _rule_input(flag: Flag, data: dict) -> dict:
    data = dict(data)
    if "variantValue" in data:
        data["variantValue"] = typed_value(flag.flag_type, data["variantValue"])
    config = data.get("ruleConfig")
    if isinstance(config, dict) and isinstance(config.get("rollout"), list):
        data["ruleConfig"] = {**config, "rollout": [
            {**e, "variantValue": typed_value(flag.flag_type, e["variantValue"])}
            if isinstance(e, dict) and "variantValue" in e else e for e in config["rollout"]]}
    return data


def _env_input(flag: Flag, data: dict) -> dict:
    """A channel's `defaultValue` is a variation's value, or (as the document's `"variant-a"` reads)
    a variation's name when no variation has that value; anything else is a 400 listing both, since
    the document's example names a variation where the flag's type alone would ask for a value."""
    data = dict(data)
    if data.get("defaultValue") is not None:
        value = typed_value(flag.flag_type, data["defaultValue"])
        variations = list(FlagVariation.select().where(FlagVariation.flag == flag).order_by(FlagVariation.id))
        if not any(ev.value_key(v.value) == ev.value_key(value) for v in variations):
            named = [v.value for v in variations if v.name == data["defaultValue"]]
            if not named:
                listed = ", ".join(f"{v.name} ({json.dumps(v.value)})" for v in variations)
                raise BadRequest(f"defaultValue must be the name or the value of one of the flag's variations: "
                                 f"{listed}", details={"field": "defaultValue",
                                                        "variations": [{"name": v.name, "value": v.value}
                                                                       for v in variations]})
            value = named[0]
        data["defaultValue"] = value
    return data


def _flag(flag_id, role: str = "reader") -> Flag:
    return flags.find_flag(project(role), flag_id)


def _one(flag: Flag):
    return jsonify({"flag": flags.flag_json(flag)})


@bp.get("/v1/ota/flags")
@accepts()
def list_flags():
    app = project()
    return jsonify({"flags": flags.flags_json(app, flags.list_flags(app))})


@bp.post("/v1/ota/flags")
@accepts(body=flags.NEW_FLAG)
def create_flag():
    app = project("publisher")
    data = body()
    return jsonify({"flag": flags.flag_json(flags.create_flag(app, _flag_input(data["flagType"], data),
                                                              actor()))}), 201


@bp.get(FLAG)
@accepts()
def get_flag(flag_id):
    return _one(_flag(flag_id))


@bp.patch(FLAG)
@accepts(body=flags.FLAG)
def update_flag(flag_id):
    flag = _flag(flag_id, "publisher")
    return _one(flags.update_flag(flag, _flag_input(flag.flag_type, body()), actor()))


@bp.delete(FLAG)
@accepts()
def delete_flag(flag_id):
    flag = _flag(flag_id, "admin")
    flags.delete_flag(flag, actor())
    return jsonify({"deleted": True, "id": flag.id})


@bp.post(f"{FLAG}/rules")
@accepts(body=flags.NEW_RULE)
def create_rule(flag_id):
    flag = _flag(flag_id, "publisher")
    return jsonify({"rule": flags.rule_json(flags.create_rule(flag, _rule_input(flag, body()), actor()))}), 201


@bp.patch(f"{FLAG}/rules/<rule_id>")
@accepts(body=flags.RULE)
def update_rule(flag_id, rule_id):
    flag = _flag(flag_id, "publisher")
    rule = flags.update_rule(flag, flags.find_rule(flag, rule_id), _rule_input(flag, body()), actor())
    return jsonify({"rule": flags.rule_json(rule)})


@bp.delete(f"{FLAG}/rules/<rule_id>")
@accepts()
def delete_rule(flag_id, rule_id):
    flag = _flag(flag_id, "publisher")
    rule = flags.find_rule(flag, rule_id)
    flags.delete_rule(flag, rule, actor())
    return jsonify({"deleted": True, "id": rule.id})


@bp.patch(f"{FLAG}/variations/<variation_id>")
@accepts(body=flags.VARIATION_CHANGES)
def update_variation(flag_id, variation_id):
    flag = _flag(flag_id, "publisher")
    data = dict(body())
    if "value" in data:
        data["value"] = typed_value(flag.flag_type, data["value"])
    return _one(flags.update_variation(flag, variation_id, data, actor()))


@bp.patch(f"{FLAG}/env/<name>")
@accepts(body=flags.CHANNEL_SETTING)
def update_env(flag_id, name):
    flag = _flag(flag_id, "publisher")
    return _one(flags.set_channel(flag, name, _env_input(flag, body()), actor()))


@bp.get(f"{FLAG}/evaluations")
@accepts(query=Schema({"days": Whole(1, 366, default=30)}))
def evaluations(flag_id):
    return jsonify(flag_contexts.evaluation_counts(_flag(flag_id), query()["days"]))


@bp.get(f"{FLAG}/health")
@accepts(query=DAYS)
def health(flag_id):
    """Flag-wide error rate, crash-free percentage and affected devices, and the same per variation."""
    return jsonify(telemetry.flag_health(_flag(flag_id), query()["days"]))
