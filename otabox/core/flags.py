"""Feature flags: flags, their variations, per-channel settings and targeting rules; flags linked to a
release at publish; their JSON shapes; and the in-memory flag sets evaluation runs from.

Every value a flag can serve (its default, a channel's default, a rule's value, a split's values) is
the value of one of its variations, so every evaluation names its variant. Changing a variation's
value changes it wherever it is served; removing a variation that is still served is refused.
Every change bumps the serving-state generation: devices see it at their next evaluation."""
from __future__ import annotations

import json
import re

from ..errors import BadRequest, Conflict, NotFound
from ..fields import Any, Boolean, Choice, ListOf, Nested, Schema, Text, Whole
from ..store.models import (
    App,
    Bundle,
    Channel,
    Flag,
    FlagChannelSetting,
    FlagRule,
    FlagVariation,
    Release,
    Segment,
    iso,
    row_id,
    utcnow,
)
from . import health
from .change import Change, changing
from . import flag_eval as ev
from .serving import AppView

FLAG_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""Keys travel unescaped in OFREP URLs, so they keep to URL-safe characters."""
MAX_FLAGS = 1000
MAX_VARIATIONS = 100
MAX_RULES = 200
MAX_TARGETING_KEYS = 10_000
PRIORITY_RANGE = (-1_000_000, 1_000_000)

TYPED_VALUE = "A value of the flag's type"
VARIATION = Schema({"id": Any(description="An existing variation's id (to change it)"),
                    "name": Text(100, min_length=1, required=True), "value": Any(required=True, description=TYPED_VALUE)})
FLAG = Schema({"name": Text(200, nullable=True), "description": Text(10_000, nullable=True),
               "enabled": Boolean(nullable=True), "defaultValue": Any(description=TYPED_VALUE),
               "variations": ListOf(Nested(VARIATION), min_items=1, max_items=MAX_VARIATIONS, nullable=True),
               "key": Any(description="1-128 letters, digits, '.', '_' or '-'; fixed once made"),
               "flagType": Any(description=f"One of {', '.join(ev.FLAG_TYPES)}; fixed once made")})
"""A flag's fields (a change sends some of them; key and flagType cannot change)."""
NEW_FLAG = FLAG.extend({"key": FLAG.fields["key"].but(required=True),
                        "flagType": Choice(ev.FLAG_TYPES, required=True)})
VARIATION_CHANGES = VARIATION.extend({"name": Text(100, min_length=1), "value": Any(description=TYPED_VALUE)}).only(
    "name", "value")
CHANNEL_SETTING = Schema({"enabled": Boolean(nullable=True),
                          "defaultValue": Any(description="One of the flag's variation values (null: the flag's "
                                                          "default)")})
RULE = Schema({"ruleType": Choice(ev.RULE_TYPES), "ruleConfig": Any(description="What the rule type needs"),
               "variantValue": Any(description="One of the flag's variation values"),
               "priority": Whole(*PRIORITY_RANGE, description="Lower first; default: after the flag's other rules"),
               "channelName": Text(200, nullable=True, description="Only in this channel")})
"""A rule's fields (a change sends some of them)."""
NEW_RULE = RULE.extend({"ruleType": RULE.fields["ruleType"].but(required=True)})


def _refuse(exc: ev.Refused, field: str) -> BadRequest:
    return BadRequest(str(exc), details={"field": field})


def _checked(flag_type: str, value, field: str):
    try:
        return ev.flag_value(flag_type, value, field)
    except ev.Refused as exc:
        raise _refuse(exc, field) from None


def key_for(name: str) -> str:
    """A key from a display name: lower case, words joined by '-' ('iOS Pro Users' -> 'ios-pro-users')."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return "-".join(words)[:100].strip("-") or "item"


# --- finding and showing -----------------------------------------------------------------------------

def owned_row(model, owner, raw_id, what: str):
    """The row of `model` with the id `raw_id` (from a path or JSON) that `owner` (a condition) allows,
    else 404 "no <what> <id>"."""
    number = row_id(raw_id)
    row = model.get_or_none((model.id == number) & owner) if number is not None else None
    if row is None:
        raise NotFound(f"no {what} {raw_id!r}")
    return row


def find_flag(app: App, flag_id) -> Flag:
    return owned_row(Flag, Flag.app == app, flag_id, "flag")


def list_flags(app: App) -> list[Flag]:
    return list(Flag.select().where(Flag.app == app).order_by(Flag.key))


def _children(flag_ids: list[int]) -> tuple[dict, dict, dict]:
    """Variations, channel settings and rules (in evaluation order) of these flags, by flag id."""
    found: tuple[dict, dict, dict] = ({}, {}, {})
    if not flag_ids:
        return found
    queries = (FlagVariation.select().where(FlagVariation.flag.in_(flag_ids)).order_by(FlagVariation.id),
               FlagChannelSetting.select().where(FlagChannelSetting.flag.in_(flag_ids)),
               FlagRule.select().where(FlagRule.flag.in_(flag_ids)).order_by(FlagRule.priority, FlagRule.id))
    for by_flag, query in zip(found, queries):
        for row in query:
            by_flag.setdefault(row.flag_id, []).append(row)
    return found


def rule_json(rule: FlagRule) -> dict:
    return {"id": rule.id, "flagId": rule.flag_id, "ruleType": rule.rule_type, "ruleConfig": rule.config,
            "variantValue": rule.variant_value, "priority": rule.priority, "channelName": rule.channel,
            "createdAt": iso(rule.created_at)}


def flags_json(app: App, flags: list[Flag]) -> list[dict]:
    variations, settings, rules = _children([f.id for f in flags])
    channels = [c.name for c in Channel.select(Channel.name).where(Channel.app == app).order_by(Channel.id)]

    def channel_json(flag: Flag, name: str) -> dict:
        setting = next((s for s in settings.get(flag.id, ()) if s.channel == name), None)
        enabled = setting.enabled if setting else True
        return {"channelName": name, "enabled": enabled, "defaultValue": setting.default_value if setting else None,
                "active": flag.enabled and enabled}

    return [{
        "id": flag.id, "key": flag.key, "name": flag.name, "flagType": flag.flag_type,
        "defaultValue": flag.default_value, "enabled": flag.enabled, "description": flag.description,
        "variations": [{"id": v.id, "name": v.name, "value": v.value} for v in variations.get(flag.id, ())],
        "channels": [channel_json(flag, name) for name in channels],
        "rules": [rule_json(r) for r in rules.get(flag.id, ())],
        "createdAt": iso(flag.created_at), "updatedAt": iso(flag.updated_at),
    } for flag in flags]


def flag_json(flag: Flag) -> dict:
    return flags_json(flag.app, [Flag.get_by_id(flag.id)])[0]


# --- consistency: every served value is a variation ----------------------------------------------------

def _served_values(flag: Flag) -> list[tuple[str, object]]:
    """(where, value) for every value the flag can serve."""
    served = [("defaultValue", flag.default_value)]
    for setting in FlagChannelSetting.select().where(FlagChannelSetting.flag == flag):
        if setting.default_value is not None:
            served.append((f"the default of channel {setting.channel!r}", setting.default_value))
    for rule in FlagRule.select().where(FlagRule.flag == flag):
        values = [entry["variantValue"] for entry in rule.config.get("rollout", ())] \
            + ([rule.variant_value] if rule.variant_value is not None else []) \
            if rule.rule_type == "percentage_rollout" else [rule.variant_value]
        served += [(f"rule {rule.id}", value) for value in values]
    return served


def _check_served(flag: Flag) -> None:
    """Inside a change's transaction: refuse (409, nothing kept) if a served value is no variation."""
    flag = Flag.get_by_id(flag.id)
    known = {ev.value_key(v.value) for v in FlagVariation.select().where(FlagVariation.flag == flag)}
    missing = [where for where, value in _served_values(flag) if ev.value_key(value) not in known]
    if missing:
        raise Conflict(f"{', '.join(missing)} serves a value that is no longer a variation of the flag; "
                       "change it first", code="variation_in_use", details={"servedBy": missing})


def _variation_value(flag: Flag, value, field: str):
    """`value` if it is one of the flag's variation values (what rules and defaults may serve)."""
    value = _checked(flag.flag_type, value, field)
    names = {ev.value_key(v.value): v.name for v in FlagVariation.select().where(FlagVariation.flag == flag)}
    if ev.value_key(value) not in names:
        raise BadRequest(f"{field} must be the value of one of the flag's variations "
                         f"({', '.join(sorted(names.values()))})", details={"field": field})
    return value


def _replace_served_values(flag: Flag, replacements: dict[str, object]) -> None:
    """Variations' values changed ({value_key(old): new}): serve each new value wherever its old one
    was served (all at once, so two variations may swap values)."""
    def new(value):
        return value if value is None else replacements.get(ev.value_key(value), value)

    flag = Flag.get_by_id(flag.id)
    Flag.update(default_value=new(flag.default_value)).where(Flag.id == flag.id).execute()
    for setting in FlagChannelSetting.select().where(FlagChannelSetting.flag == flag):
        FlagChannelSetting.update(default_value=new(setting.default_value)).where(
            FlagChannelSetting.id == setting.id).execute()
    for rule in FlagRule.select().where(FlagRule.flag == flag):
        config = rule.config
        if rule.rule_type == "percentage_rollout":
            config = {**config, "rollout": [{**e, "variantValue": new(e["variantValue"])} for e in config["rollout"]]}
        FlagRule.update(config=config, variant_value=new(rule.variant_value)).where(FlagRule.id == rule.id).execute()


def _changed(change: Change, flag: Flag, details: dict) -> None:
    """The end of every flag change's block: consistency, timestamp, what its audit entry and the
    flag.updated webhook event say."""
    _check_served(flag)
    Flag.update(updated_at=utcnow()).where(Flag.id == flag.id).execute()
    change.entity_id, change.app_id = flag.id, flag.app_id
    change.details = {"app": flag.app.slug, "flag": flag.key, **details}
    change.emit("flag.updated", flag.app, {"flag": {"id": flag.id, "key": flag.key}, "action": change.action,
                                           "changes": details})


# --- flags and variations ----------------------------------------------------------------------------

def _default_variations(flag_type: str, default) -> list[dict]:
    """A flag created without variations: on/off for a boolean flag, else its default value."""
    return ([{"name": "on", "value": True}, {"name": "off", "value": False}] if flag_type == "boolean"
            else [{"name": "default", "value": default}])


def _variations(flag_type: str, value: list[dict]) -> list[dict]:
    """Variations (VARIATION) whose values are of the flag's type, each name and value once."""
    names, keys, checked = set(), set(), []
    for position, item in enumerate(value):
        field = f"variations[{position}]"
        variation_value = _checked(flag_type, item["value"], f"{field}.value")
        if item["name"] in names or ev.value_key(variation_value) in keys:
            raise BadRequest(f"{field}: variation names and values must be unique", details={"field": field})
        names.add(item["name"])
        keys.add(ev.value_key(variation_value))
        checked.append({"id": item.get("id"), "name": item["name"], "value": variation_value})
    return checked


def create_flag(app: App, data: dict, actor: str) -> Flag:
    data = NEW_FLAG.validate(data)
    key = data.get("key")
    if not isinstance(key, str) or not FLAG_KEY.match(key):
        raise BadRequest("key must be 1-128 letters, digits, '.', '_' or '-' (starting with a letter or digit)",
                         details={"field": "key"})
    flag_type = data.get("flagType")
    if flag_type not in ev.FLAG_TYPES:
        raise BadRequest(f"flagType must be one of {', '.join(ev.FLAG_TYPES)}", details={"field": "flagType"})
    if "defaultValue" not in data and flag_type != "boolean":
        raise BadRequest("defaultValue is required", details={"field": "defaultValue"})
    default = _checked(flag_type, data.get("defaultValue", False), "defaultValue")
    variations = _variations(flag_type, data["variations"]) if data.get("variations") is not None \
        else _default_variations(flag_type, default)
    if ev.value_key(default) not in {ev.value_key(v["value"]) for v in variations}:
        raise BadRequest("defaultValue must be the value of one of the variations", details={"field": "defaultValue"})
    name = data.get("name") or key
    description = data.get("description") or ""
    enabled = data.get("enabled")
    with changing(actor, "flag.created", "flag") as change:
        if Flag.select().where((Flag.app == app) & (Flag.key == key)).exists():
            raise Conflict(f"a flag with key {key!r} exists already", details={"key": key})
        if Flag.select().where(Flag.app == app).count() >= MAX_FLAGS:
            raise Conflict(f"an app has at most {MAX_FLAGS} flags", code="too_many_flags")
        flag = Flag.create(app=app, key=key, name=name, flag_type=flag_type, default_value=default,
                           enabled=True if enabled is None else enabled, description=description)
        FlagVariation.insert_many([{"flag": flag.id, "name": v["name"], "value": v["value"]}
                                   for v in variations]).execute()
        _changed(change, flag, {"flagType": flag_type, "enabled": flag.enabled})
    return flag


def _replace_variations(flag: Flag, wanted: list[dict]) -> None:
    """Make the flag's variations `wanted`: entries with an id change that variation, others are added,
    variations left out are removed."""
    current = {v.id: v for v in FlagVariation.select().where(FlagVariation.flag == flag)}
    for item in wanted:
        if item["id"] is not None and row_id(item["id"]) not in current:
            raise BadRequest(f"the flag has no variation {item['id']!r}", details={"field": "variations"})
    kept = {row_id(item["id"]) for item in wanted if item["id"] is not None}
    FlagVariation.delete().where(FlagVariation.id.in_(list(set(current) - kept) or [0])).execute()
    replacements = {}
    for item in wanted:
        existing = current.get(row_id(item["id"])) if item["id"] is not None else None
        if existing is None:
            FlagVariation.create(flag=flag, name=item["name"], value=item["value"])
            continue
        if ev.value_key(existing.value) != ev.value_key(item["value"]):
            replacements[ev.value_key(existing.value)] = item["value"]
        FlagVariation.update(name=item["name"], value=item["value"]).where(FlagVariation.id == existing.id).execute()
    _replace_served_values(flag, replacements)


def update_flag(flag: Flag, data: dict, actor: str) -> Flag:
    data = FLAG.validate(data)
    for fixed, column in (("key", "key"), ("flagType", "flag_type")):
        if fixed in data and data[fixed] != getattr(flag, column):
            raise BadRequest(f"a flag's {fixed} cannot change; create another flag", details={"field": fixed})
    changes = {"name": data.get("name"), "description": data.get("description"), "enabled": data.get("enabled")}
    changes = {k: v for k, v in changes.items() if v is not None}
    if "name" in changes and not changes["name"]:
        raise BadRequest("name must not be empty", details={"field": "name"})
    variations = _variations(flag.flag_type, data["variations"]) if data.get("variations") is not None else None
    if "defaultValue" in data:
        changes["default_value"] = _checked(flag.flag_type, data["defaultValue"], "defaultValue")
    if not changes and variations is None:
        raise BadRequest("nothing to change: send name, description, enabled, defaultValue or variations")
    action = "flag.toggled" if set(changes) == {"enabled"} and variations is None else "flag.updated"
    with changing(actor, action, "flag") as change:
        if variations is not None:
            _replace_variations(flag, variations)
        if changes:
            Flag.update(**changes).where(Flag.id == flag.id).execute()
        _changed(change, flag, {
            **{k: v for k, v in data.items() if k in ("name", "enabled", "defaultValue")},
            **({"variations": [v["name"] for v in variations]} if variations is not None else {})})
    return Flag.get_by_id(flag.id)


def delete_flag(flag: Flag, actor: str) -> None:
    with changing(actor, "flag.deleted", "flag", flag.id, {"app": flag.app.slug, "flag": flag.key}, app=flag.app_id):
        flag.delete_instance(recursive=True)


def update_variation(flag: Flag, variation_id, data: dict, actor: str) -> Flag:
    data = VARIATION_CHANGES.validate(data)
    variation = owned_row(FlagVariation, FlagVariation.flag == flag, variation_id, f"variation of flag {flag.key!r}:")
    name = data.get("name")
    value = _checked(flag.flag_type, data["value"], "value") if "value" in data else None
    if name is None and value is None:
        raise BadRequest("nothing to change: send name or value")
    with changing(actor, "flag.variation_updated", "flag") as change:
        others = [v for v in FlagVariation.select().where(FlagVariation.flag == flag) if v.id != variation.id]
        if (name is not None and name in {v.name for v in others}) or (
                value is not None and ev.value_key(value) in {ev.value_key(v.value) for v in others}):
            raise Conflict("another variation of the flag has that name or value")
        if value is not None:
            _replace_served_values(flag, {ev.value_key(variation.value): value})
        FlagVariation.update(**{k: v for k, v in (("name", name), ("value", value)) if v is not None}).where(
            FlagVariation.id == variation.id).execute()
        _changed(change, flag, {
            "variationId": variation.id, **({"name": name} if name is not None else {}),
            **({"value": value} if value is not None else {})})
    return Flag.get_by_id(flag.id)


def _channel(app_id: int, name) -> str:
    if not isinstance(name, str) or not Channel.select().where(
            (Channel.app == app_id) & (Channel.name == name)).exists():
        raise NotFound(f"no channel {name!r} in this app", details={"field": "channelName"})
    return name


def set_channel(flag: Flag, channel_name: str, data: dict, actor: str) -> Flag:
    """A flag's switch and default value in one channel (`defaultValue: null` = the flag's default)."""
    data = CHANNEL_SETTING.validate(data)
    _channel(flag.app_id, channel_name)
    enabled = data.get("enabled")
    if enabled is None and "defaultValue" not in data:
        raise BadRequest("nothing to change: send enabled or defaultValue")
    with changing(actor, "flag.channel_updated", "flag") as change:
        setting = FlagChannelSetting.get_or_none((FlagChannelSetting.flag == flag)
                                                 & (FlagChannelSetting.channel == channel_name))
        setting = setting or FlagChannelSetting(flag=flag, channel=channel_name)
        if enabled is not None:
            setting.enabled = enabled
        if "defaultValue" in data:
            setting.default_value = None if data["defaultValue"] is None else \
                _variation_value(flag, data["defaultValue"], "defaultValue")
        setting.save()
        _changed(change, flag,
                 {"channel": channel_name, **{k: data[k] for k in ("enabled", "defaultValue") if k in data}})
    return Flag.get_by_id(flag.id)


# --- rules -------------------------------------------------------------------------------------------

def _rule_config(flag: Flag, rule_type: str, config) -> tuple[dict, str | None]:
    """The stored form of a rule's config, and the segment it names (if any)."""
    if not isinstance(config, dict):
        raise BadRequest("ruleConfig must be an object", details={"field": "ruleConfig"})
    segment_key = None
    if rule_type == "user_list":
        keys = config.get("targetingKeys")
        if not isinstance(keys, list) or not 0 < len(keys) <= MAX_TARGETING_KEYS or not all(
                isinstance(k, str) and 0 < len(k) <= ev.MAX_TARGETING_KEY for k in keys):
            raise BadRequest(f"targetingKeys must be a list of 1 to {MAX_TARGETING_KEYS} targeting keys",
                             details={"field": "ruleConfig.targetingKeys"})
        stored = {"targetingKeys": list(dict.fromkeys(keys))}
    elif rule_type == "attribute":
        try:
            condition = ev.compile_condition(config.get("attribute"), config.get("operator"), config.get("values"))
        except ev.Refused as exc:
            raise _refuse(exc, "ruleConfig") from None
        stored = {"attribute": condition.attribute, "operator": condition.operator,
                  "values": list(condition.values)}
    elif rule_type == "ota_update":
        stored = _ota_config(flag.app_id, config)
    else:
        segment_key = config.get("segmentKey")
        if segment_key is not None and not Segment.select().where(
                (Segment.app == flag.app_id) & (Segment.key == segment_key)).exists():
            raise NotFound(f"no segment {segment_key!r} in this app", details={"field": "ruleConfig.segmentKey"})
        if rule_type == "segment":
            if segment_key is None:
                raise BadRequest("segmentKey is required", details={"field": "ruleConfig.segmentKey"})
            stored = {"segmentKey": segment_key}
        else:
            try:
                ev.compile_rollout(config.get("rollout"),
                                   lambda value: _variation_value(flag, value, "ruleConfig.rollout.variantValue"))
            except ev.Refused as exc:
                raise _refuse(exc, "ruleConfig.rollout") from None
            stored = {"rollout": [{"variantValue": e["variantValue"], "weight": e["weight"]}
                                  for e in config["rollout"]],
                      **({"segmentKey": segment_key} if segment_key is not None else {})}
    return stored, segment_key


def _ota_config(app_id: int, config: dict) -> dict:
    named = [name for name in ("bundleId", "releaseId") if config.get(name) is not None]
    if len(named) != 1 or isinstance(config[named[0]], bool) or not isinstance(config[named[0]], int):
        raise BadRequest("ruleConfig needs exactly one of bundleId and releaseId (an integer)",
                         details={"field": "ruleConfig"})
    name = named[0]
    number = row_id(config[name])
    model = Bundle if name == "bundleId" else Release
    if number is None or not model.select().where((model.id == number) & (model.app == app_id)).exists():
        raise NotFound(f"no {'bundle' if name == 'bundleId' else 'release'} {config[name]!r} in this app",
                       details={"field": f"ruleConfig.{name}"})
    return {name: number}


def _rule_fields(flag: Flag, data: dict) -> dict:
    """The columns of a rule from its API shape (all fields present), checked."""
    rule_type = data.get("ruleType")
    if rule_type not in ev.RULE_TYPES:
        raise BadRequest(f"ruleType must be one of {', '.join(ev.RULE_TYPES)}", details={"field": "ruleType"})
    config, segment_key = _rule_config(flag, rule_type, data.get("ruleConfig"))
    priority = data.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int) or not \
            PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise BadRequest(f"priority must be a whole number from {PRIORITY_RANGE[0]} to {PRIORITY_RANGE[1]}",
                         details={"field": "priority"})
    channel = data.get("channelName")
    if channel is not None:
        _channel(flag.app_id, channel)
    # A percentage_rollout's rollout entries say what each context gets; the document's example sends
    # a top-level variantValue beside them all the same, so it is checked, kept and answered as sent
    # (optional there), never dropped; it serves nothing by itself.
    value = None if rule_type == "percentage_rollout" and data.get("variantValue") is None else \
        _variation_value(flag, data.get("variantValue"), "variantValue")
    return {"rule_type": rule_type, "config": config, "variant_value": value, "priority": priority,
            "channel": channel, "segment_key": segment_key}


def _last_priority(flag: Flag) -> int:
    rule = FlagRule.select(FlagRule.priority).where(FlagRule.flag == flag).order_by(FlagRule.priority.desc()).first()
    return rule.priority + 1 if rule else 0


def create_rule(flag: Flag, data: dict, actor: str) -> FlagRule:
    """A rule; without a priority it comes after the flag's other rules."""
    data = NEW_RULE.validate(data)
    with changing(actor, "flag.rule_created", "flag") as change:
        if FlagRule.select().where(FlagRule.flag == flag).count() >= MAX_RULES:
            raise Conflict(f"a flag has at most {MAX_RULES} rules", code="too_many_rules")
        fields = _rule_fields(flag, {**data, "priority": data.get("priority", _last_priority(flag))})
        rule = FlagRule.create(flag=flag, **fields)
        _changed(change, flag, {"ruleId": rule.id, "ruleType": rule.rule_type})
    return rule


def find_rule(flag: Flag, rule_id) -> FlagRule:
    return owned_row(FlagRule, FlagRule.flag == flag, rule_id, f"rule of flag {flag.key!r}:")


def update_rule(flag: Flag, rule: FlagRule, data: dict, actor: str) -> FlagRule:
    data = RULE.validate(data)
    known = ("ruleType", "ruleConfig", "variantValue", "priority", "channelName")
    if not any(name in data for name in known):
        raise BadRequest(f"nothing to change: send {', '.join(known)}")
    current = {"ruleType": rule.rule_type, "ruleConfig": rule.config, "variantValue": rule.variant_value,
               "priority": rule.priority, "channelName": rule.channel}
    with changing(actor, "flag.rule_updated", "flag") as change:
        fields = _rule_fields(flag, {**current, **{k: data[k] for k in known if k in data}})
        FlagRule.update(**fields).where(FlagRule.id == rule.id).execute()
        _changed(change, flag,
                 {"ruleId": rule.id, "changed": sorted(k for k in known if k in data)})
    return FlagRule.get_by_id(rule.id)


def delete_rule(flag: Flag, rule: FlagRule, actor: str) -> None:
    with changing(actor, "flag.rule_deleted", "flag") as change:
        rule.delete_instance()
        _changed(change, flag, {"ruleId": rule.id, "ruleType": rule.rule_type})


def flag_health(flag: Flag, days: int) -> dict:
    """Crash and error rates per variant of the flag, from what devices reported in health events'
    `flagStates`. Devices report the value they were served; it is named by the variation that has
    that value (a value no variation has any more keeps its text as its name), and `value` is that
    value typed (see `reported_value`)."""
    names = {health.value_text(variation.value): variation.name for variation in flag.variations}
    values = reported_values(flag.app_id).get(flag.key, {})
    variants = [{**entry, "value": reported_value(entry["variant"], values, flag.flag_type),
                 "variant": names.get(entry["variant"], entry["variant"])}
                for entry in health.flag_variant_health(flag.app_id, flag.key, days)]
    return {"flagId": flag.id, "key": flag.key, "days": days, "variants": variants}


def reported_values(app_id: int) -> dict[str, dict[str, object]]:
    """Per flag key of the app, the text each variation's value is kept as in reports' flag states
    (`health.value_text`) and the value itself, to answer typed JSON where they are kept as text."""
    found: dict[str, dict[str, object]] = {}
    for key, value in (FlagVariation.select(Flag.key, FlagVariation.value).join(Flag)
                       .where(Flag.app == app_id).tuples()):
        found.setdefault(key, {})[health.value_text(value)] = value
    return found


def reported_value(text: str, values: dict[str, object], flag_type: str | None = None):
    """A flag state kept as text (reports only keep the texts of a flag's variations' values) as the
    typed value it was: the variation's; a text no variation has any more is read as JSON unless the
    flag is a string flag (or gone), so kept data needs no migration."""
    if text in values:
        return values[text]
    if flag_type not in (None, "string"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def typed_states(states: dict, reported: dict[str, dict[str, object]]) -> dict:
    """An event's kept flag states ({key: text}) with typed values (see `reported_value`)."""
    return {key: reported_value(text, reported.get(key, {})) for key, text in (states or {}).items()}


def channel_renamed(app_id: int, old: str, new: str) -> None:
    """Inside a channel rename's transaction: the flags' settings and rules follow the channel."""
    flag_ids = Flag.select(Flag.id).where(Flag.app == app_id)
    FlagChannelSetting.update(channel=new).where(FlagChannelSetting.flag.in_(flag_ids)
                                                 & (FlagChannelSetting.channel == old)).execute()
    FlagRule.update(channel=new).where(FlagRule.flag.in_(flag_ids) & (FlagRule.channel == old)).execute()


def channel_deleted(app_id: int, name: str) -> None:
    """Inside a channel deletion's transaction: the flags' settings and rules for it go too (a channel
    made later under the same name starts clean)."""
    flag_ids = Flag.select(Flag.id).where(Flag.app == app_id)
    FlagChannelSetting.delete().where(FlagChannelSetting.flag.in_(flag_ids)
                                      & (FlagChannelSetting.channel == name)).execute()
    FlagRule.delete().where(FlagRule.flag.in_(flag_ids) & (FlagRule.channel == name)).execute()


# --- flags linked to a release -------------------------------------------------------------------------

def linked_flags(app: App, value) -> list[tuple[Flag, object]]:
    """The `linkedFlags` of a new release, checked before anything is written: [(flag, value)], where a
    boolean flag's value may be given as `enabled` and any flag's as `value`."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 100:
        raise BadRequest("linkedFlags must be a list of at most 100 {flagId, enabled} objects",
                         details={"field": "linkedFlags"})
    links = []
    for item in value:
        if not isinstance(item, dict):
            raise BadRequest("each linkedFlags entry must be an object", details={"field": "linkedFlags"})
        flag = find_flag(app, item.get("flagId"))
        served = item["value"] if "value" in item else item.get("enabled")
        if "value" not in item and (flag.flag_type != "boolean" or not isinstance(served, bool)):
            raise BadRequest(f"flag {flag.key!r}: give enabled (true or false) for a boolean flag, else value",
                             details={"field": "linkedFlags"})
        links.append((flag, _variation_value(flag, served, "linkedFlags.value")))
    return links


def link_release(release: Release, links: list[tuple[Flag, object]], actor: str) -> None:
    """Inside the release's transaction: each linked flag serves its value to devices running the
    release's update, before its other rules (whatever channel they evaluate in)."""
    for flag, value in links:
        first = FlagRule.select(FlagRule.priority).where(FlagRule.flag == flag).order_by(FlagRule.priority).first()
        with changing(actor, "flag.rule_created", "flag") as change:
            rule = FlagRule.create(flag=flag, rule_type="ota_update", config={"releaseId": release.id},
                                   variant_value=value, priority=min(first.priority - 1, 0) if first else 0)
            _changed(change, flag, {"ruleId": rule.id, "ruleType": "ota_update", "releaseId": release.id})


# --- the in-memory flag sets ---------------------------------------------------------------------------

def _ota_target(view: AppView, config: dict, releases: dict) -> ev.OtaTarget | None:
    release = releases.get(config.get("releaseId"))
    bundle = release.bundle if release is not None else view.bundles.get(config.get("bundleId"))
    if bundle is None:
        return None
    return ev.OtaTarget(bundle.id, bundle.version, bundle.platform, bundle.package_hash,
                        release.id if release is not None else None)


def segment_view(segment: Segment) -> ev.SegmentView:
    return ev.SegmentView(segment.key, segment.match_type == "all", tuple(
        ev.compile_condition(c["attribute"], c["operator"], c["valuesJson"]) for c in segment.conditions))


def load_flag_set(view: AppView) -> ev.FlagSet:
    """An app's flags as evaluation reads them (a few queries, once per generation)."""
    flags = list(Flag.select().where(Flag.app == view.id).order_by(Flag.key))
    variations, settings, rules = _children([f.id for f in flags])
    segments = {s.key: segment_view(s) for s in Segment.select().where(Segment.app == view.id)}
    releases = {r.id: r for channel in view.channels.values() for r in channel.history}
    built = {}
    for flag in flags:
        variants = {ev.value_key(v.value): ev.Variant(v.id, v.name, ev.typed(flag.flag_type, v.value))
                    for v in variations.get(flag.id, ())}

        def variant(value, variants=variants):
            return variants[ev.value_key(value)]

        channels = {s.channel: ev.ChannelSetting(s.enabled, None if s.default_value is None else
                                                 variant(s.default_value)) for s in settings.get(flag.id, ())}
        views = []
        for rule in rules.get(flag.id, ()):
            config = rule.config
            extra = {}
            if rule.rule_type == "user_list":
                extra["targeting_keys"] = frozenset(config["targetingKeys"])
            elif rule.rule_type == "attribute":
                extra["condition"] = ev.compile_condition(config["attribute"], config["operator"], config["values"])
            elif rule.rule_type == "ota_update":
                extra["ota"] = _ota_target(view, config, releases)
            else:
                extra["segment"] = segments.get(config.get("segmentKey"))
                if rule.rule_type == "percentage_rollout":
                    extra["rollout"] = ev.compile_rollout(config["rollout"], variant)
            views.append(ev.RuleView(rule.id, rule.rule_type, rule.priority, rule.channel,
                                     None if rule.variant_value is None else variant(rule.variant_value),
                                     config, **extra))
        built[flag.key] = ev.FlagView(flag.id, flag.key, flag.flag_type, flag.enabled, variant(flag.default_value),
                                      tuple(variants.values()), channels, tuple(views))
    return ev.FlagSet(view.id, built)


class FlagCache:
    """Flag sets by app, rebuilt when the serving state's view of the app is (a new generation)."""

    def __init__(self):
        self._sets: dict[int, tuple[AppView, ev.FlagSet]] = {}

    def flag_set(self, view: AppView) -> ev.FlagSet:
        entry = self._sets.get(view.id)
        if entry is not None and entry[0] is view:
            return entry[1]
        flag_set = load_flag_set(view)
        self._sets[view.id] = (view, flag_set)
        return flag_set
