"""Segments: reusable audiences for flag rules, as conditions on evaluation-context attributes that
all (`matchType: all`) or any (`any`) must hold. A segment's key is how rules name it; it is made
from the name when not given and does not change. A segment in use by a rule cannot be deleted."""
from __future__ import annotations

import json

from ..errors import BadRequest, Conflict
from ..fields import Any, Choice, ListOf, Nested, Schema, Text
from ..store.models import App, Flag, FlagRule, Segment, iso, utcnow
from . import flag_eval as ev
from .change import changing
from .flags import FLAG_KEY, key_for, owned_row

MATCH_TYPES = ("all", "any")
MAX_CONDITIONS = 50
MAX_SEGMENTS = 1000
CONDITION = Schema({"attribute": Text(256, min_length=1, required=True), "operator": Choice(ev.OPERATORS, required=True),
                    "valuesJson": Any(description="A list of strings, numbers or booleans (or its JSON text); none "
                                                  "for exists and not_exists")},
                   aliases={"values": "valuesJson"})
"""A condition on one attribute of the evaluation context (compile_condition checks its values)."""
SEGMENT = Schema({"name": Text(200, min_length=1), "description": Text(10_000, nullable=True),
                  "matchType": Choice(MATCH_TYPES),
                  "conditions": ListOf(Nested(CONDITION), max_items=MAX_CONDITIONS),
                  "key": Any(description="1-128 letters, digits, '.', '_' or '-'; fixed once made")})
"""A segment's fields (a change sends some of them; key cannot change)."""
NEW_SEGMENT = SEGMENT.extend({"name": SEGMENT.fields["name"].but(required=True)})


def find_segment(app: App, segment_id) -> Segment:
    return owned_row(Segment, Segment.app == app, segment_id, "segment")


def list_segments(app: App) -> list[Segment]:
    return list(Segment.select().where(Segment.app == app).order_by(Segment.key))


def _users(segment: Segment) -> list[dict]:
    return [{"flagId": rule.flag_id, "flagKey": rule.flag.key, "ruleId": rule.id}
            for rule in FlagRule.select(FlagRule, Flag).join(Flag).where(
                (Flag.app == segment.app_id) & (FlagRule.segment_key == segment.key)).order_by(FlagRule.id)]


def segment_json(segment: Segment) -> dict:
    return {"id": segment.id, "key": segment.key, "name": segment.name, "description": segment.description,
            "matchType": segment.match_type, "conditions": segment.conditions, "usedBy": _users(segment),
            "createdAt": iso(segment.created_at), "updatedAt": iso(segment.updated_at)}


def _values(condition: dict, field: str):
    """A condition's values: a list, or the JSON text of one (as the AppDispatch dashboard stores it)."""
    values = condition.get("valuesJson")
    if isinstance(values, str):
        try:
            values = json.loads(values)
        except ValueError:
            raise BadRequest(f"{field}.valuesJson is not valid JSON", details={"field": f"{field}.valuesJson"}) \
                from None
    return values


def _conditions(conditions: list[dict]) -> list[dict]:
    """Conditions (each checked by CONDITION) compiled once, so a segment holds only what can be evaluated."""
    checked = []
    for position, condition in enumerate(conditions):
        field = f"conditions[{position}]"
        try:
            compiled = ev.compile_condition(condition["attribute"], condition["operator"], _values(condition, field))
        except ev.Refused as exc:
            raise BadRequest(f"{field}: {exc}", details={"field": field}) from None
        checked.append({"attribute": compiled.attribute, "operator": compiled.operator,
                        "valuesJson": list(compiled.values)})
    return checked


def _fields(data: dict, creating: bool) -> dict:
    """Validated (NEW_SEGMENT or SEGMENT) columns of a segment, but its key."""
    data = (NEW_SEGMENT if creating else SEGMENT).validate(data)
    fields = {}
    if "name" in data:
        fields["name"] = data["name"]
    if data.get("description") is not None:
        fields["description"] = data["description"]
    if creating or "matchType" in data:
        fields["match_type"] = data.get("matchType", "all")
    if creating or "conditions" in data:
        fields["conditions"] = _conditions(data.get("conditions", []))
    return fields


def _free_key(app: App, wanted: str) -> str:
    taken = {s.key for s in Segment.select(Segment.key).where(Segment.app == app)}
    key, number = wanted, 2
    while key in taken:
        key, number = f"{wanted}-{number}", number + 1
    return key


def create_segment(app: App, data: dict, actor: str) -> Segment:
    fields = _fields(data, creating=True)
    key = data.get("key")
    if key is not None and (not isinstance(key, str) or not FLAG_KEY.match(key)):
        raise BadRequest("key must be 1-128 letters, digits, '.', '_' or '-'", details={"field": "key"})
    with changing(actor, "segment.created", "segment", details={"app": app.slug}, app=app) as change:
        if Segment.select().where(Segment.app == app).count() >= MAX_SEGMENTS:
            raise Conflict(f"an app has at most {MAX_SEGMENTS} segments", code="too_many_segments")
        if key is not None and Segment.select().where((Segment.app == app) & (Segment.key == key)).exists():
            raise Conflict(f"a segment with key {key!r} exists already", details={"key": key})
        segment = Segment.create(app=app, key=key or _free_key(app, key_for(fields["name"])), **fields)
        change.entity_id, change.details["key"] = segment.id, segment.key
    return segment


def update_segment(segment: Segment, data: dict, actor: str) -> Segment:
    if "key" in data and data["key"] != segment.key:
        raise BadRequest("a segment's key cannot change (rules name it); create another segment",
                         details={"field": "key"})
    fields = _fields(data, creating=False)
    if not fields:
        raise BadRequest("nothing to change: send name, description, matchType or conditions")
    with changing(actor, "segment.updated", "segment", segment.id,
                  {"app": segment.app.slug, "key": segment.key, "changed": sorted(fields)}, app=segment.app_id):
        Segment.update(**fields, updated_at=utcnow()).where(Segment.id == segment.id).execute()
    return Segment.get_by_id(segment.id)


def delete_segment(segment: Segment, actor: str) -> None:
    with changing(actor, "segment.deleted", "segment", segment.id, {"app": segment.app.slug, "key": segment.key},
                  app=segment.app_id):
        users = _users(segment)
        if users:
            raise Conflict(f"segment {segment.key!r} is used by {len(users)} rule(s); remove them first",
                           code="segment_in_use", details={"usedBy": users})
        segment.delete_instance()
