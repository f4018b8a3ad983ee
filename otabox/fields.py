"""The one validation layer for what callers send: field validators and the schemas made of them.

A `Schema` names every field a request may carry. `validate(body)` answers the clean values of the
fields present (aliases mapped to their otabox names, ignored fields dropped) or raises one
`BadRequest` naming the first field at fault: a value of the wrong kind, a missing required field,
or a field the schema does not know (`unknown_field`, with the closest known name suggested, or the
hint the schema keeps for a name callers are known to get wrong). `validate_text` does the same for
a query string or form fields, whose values arrive as text.

Validators are idempotent (a clean value validates to itself), so a core operation may validate
again what an adapter already validated: the rule lives once, in the schema beside the operation.
"""
from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping

from . import jsonsafe
from .errors import BadRequest, UnknownField

MISSING = object()


def invalid(name: str, expected: str) -> BadRequest:
    return BadRequest(f"{name} must be {expected}", details={"field": name})


class Field:
    """One field. `required`: it must be present; `nullable`: null is a value (it comes back as None);
    `default`: the value of an absent field (a query's page size); `description`: what the OpenAPI
    document says of it."""

    expected = "a value"
    schema: dict = {}

    def __init__(self, *, required: bool = False, nullable: bool = False, default=MISSING, description: str = ""):
        self.required, self.nullable, self.default, self.description = required, nullable, default, description

    def __call__(self, value, name: str):
        if value is None:
            if self.nullable:
                return None
            raise invalid(name, self.expected)
        return self.clean(value, name)

    def clean(self, value, name: str):
        return value

    def but(self, **changes) -> Field:
        """A copy with other `required`, `nullable`, `default` or `description`."""
        other = copy.copy(self)
        other.__dict__.update(changes)
        return other

    def from_text(self, raw: str, name: str):
        """A value that arrived as text (a query string, a form field)."""
        return self(raw, name)

    def json_schema(self) -> dict:
        schema = dict(self.schema)
        if self.nullable:
            schema = {"anyOf": [schema, {"type": "null"}]} if schema else {}
        if self.default is not MISSING:
            schema["default"] = self.default
        if self.description:
            schema["description"] = self.description
        return schema


class Any(Field):
    """Any JSON value (the operation checks it against what it already holds, e.g. a flag's type)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("nullable", True)
        super().__init__(**kwargs)


class Text(Field):
    """A string of `min_length` to `max_length` characters; `pattern` (a regex it must match in
    full) or `check` (a predicate) narrow it, `expected` says how in the error."""

    def __init__(self, max_length: int = 200, *, min_length: int = 0, pattern: str | None = None,
                 check: Callable[[str], bool] | None = None, expected: str | None = None, strip: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.min_length, self.max_length, self.strip = min_length, max_length, strip
        self.pattern = re.compile(pattern) if pattern else None
        self.check = check
        self.expected = expected or f"a string of {min_length} to {max_length} characters"
        self.schema = {"type": "string", "maxLength": max_length, **({"minLength": min_length} if min_length else {}),
                       **({"pattern": pattern} if pattern else {})}

    def clean(self, value, name):
        if not isinstance(value, str):
            raise invalid(name, self.expected)
        if self.strip:
            value = value.strip()
        if not self.min_length <= len(value) <= self.max_length or (
                self.pattern and not self.pattern.fullmatch(value)) or (self.check and not self.check(value)):
            raise invalid(name, self.expected)
        return value


class Boolean(Field):
    expected = "true or false"
    schema = {"type": "boolean"}

    def clean(self, value, name):
        if not isinstance(value, bool):
            raise invalid(name, self.expected)
        return value

    def from_text(self, raw, name):
        if raw not in ("true", "false"):
            raise invalid(name, self.expected)
        return raw == "true"


class Number(Field):
    """A number from `low` to `high`; `whole`: an integer (2.0 counts as 2)."""

    def __init__(self, low: float = 0, high: float = 2**63 - 1, *, whole: bool = False,
                 expected: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high, self.whole = low, high, whole
        self.expected = expected or f"{'a whole number' if whole else 'a number'} from {_plain(low)} to {_plain(high)}"
        self.schema = {"type": "integer" if whole else "number", "minimum": low, "maximum": high}

    def clean(self, value, name):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not math.isfinite(value)) or not self.low <= value <= self.high:
            raise invalid(name, self.expected)
        if self.whole:
            if value != int(value):
                raise invalid(name, self.expected)
            return int(value)
        return value

    def from_text(self, raw, name):
        digits = raw[1:] if raw.startswith("-") else raw
        if not digits.isascii() or not digits.replace(".", "", 0 if self.whole else 1).isdigit():
            raise invalid(name, self.expected)
        return self(int(raw) if self.whole else float(raw), name)


def _plain(number: float) -> str:
    """A bound as a person writes it: 1000000, not 1e+06 (`:g`'s exponent past six digits); 0.5 stays 0.5."""
    return str(int(number)) if float(number).is_integer() else repr(number)


def Whole(low: int = 0, high: int = 2**63 - 1, **kwargs) -> Number:  # noqa: N802 (a validator, named like one)
    return Number(low, high, whole=True, **kwargs)


def Percentage(low: int = 0, **kwargs) -> Number:  # noqa: N802
    return Number(low, 100, whole=True, expected=f"a whole percentage from {low} to 100", **kwargs)


class Choice(Field):
    """One of `options` (a tuple the code already holds, e.g. apps.BLOCK_UPGRADES)."""

    def __init__(self, options: Iterable[str], **kwargs):
        super().__init__(**kwargs)
        self.options = tuple(options)
        self.expected = f"one of {', '.join(map(str, self.options))}"
        self.schema = {"enum": list(self.options)}

    def clean(self, value, name):
        if not isinstance(value, str) or value not in self.options:
            raise invalid(name, self.expected)
        return value


class IdOrName(Field):
    """A row named by its id (a whole number) or by a name (a string of 1 to 200 characters)."""

    expected = "an id or a name"
    schema = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                        {"type": "string", "minLength": 1, "maxLength": 200}]}

    def clean(self, value, name):
        if isinstance(value, bool) or not isinstance(value, (int, str)) or (
                isinstance(value, str) and not 0 < len(value) <= 200) or (
                isinstance(value, int) and not 0 < value < 2**63):
            raise invalid(name, self.expected)
        return value


class ListOf(Field):
    """A list of `min_items` to `max_items` items, each checked by `item`; `unique`: no repeats."""

    def __init__(self, item: Field, *, min_items: int = 0, max_items: int = 100, unique: bool = False,
                 expected: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.item, self.min_items, self.max_items, self.unique = item, min_items, max_items, unique
        self.expected = expected or f"a list of {min_items} to {max_items} items"
        self.schema = {"type": "array", "items": item.json_schema(), "maxItems": max_items,
                       **({"minItems": min_items} if min_items else {}), **({"uniqueItems": True} if unique else {})}

    def clean(self, value, name):
        if not isinstance(value, list) or not self.min_items <= len(value) <= self.max_items:
            raise invalid(name, self.expected)
        items = [self.item(v, f"{name}[{i}]") for i, v in enumerate(value)]
        if self.unique and len({json.dumps(v, sort_keys=True) for v in items}) != len(items):
            raise invalid(name, f"{self.expected} without repeats")
        return items

    def from_text(self, raw, name):
        return self([self.item.from_text(part, name) for part in raw.split(",")] if raw else [], name)


class Nested(Field):
    """An object checked by its own schema (as strictly as the body it sits in)."""

    def __init__(self, schema: Schema, **kwargs):
        super().__init__(**kwargs)
        self.nested = schema
        self.expected = "an object"

    @property
    def schema(self):
        return self.nested.json_schema()

    def clean(self, value, name):
        if not isinstance(value, dict):
            raise invalid(name, self.expected)
        return self.nested.validate(value, where=f"{name}.")


class Json(Field):
    """A JSON value of `kind` (dict: an object) of at most `max_bytes` once encoded; as text (a form
    field) it is JSON text."""

    def __init__(self, kind: type | tuple = dict, max_bytes: int = 64 * 1024, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.max_bytes = kind, max_bytes
        self.expected = f"{'a JSON object' if kind is dict else 'a JSON value'} of at most {max_bytes} bytes"
        self.schema = {"type": "object"} if kind is dict else {}

    def clean(self, value, name):
        if not isinstance(value, self.kind) or len(json.dumps(value)) > self.max_bytes:
            raise invalid(name, self.expected)
        return value

    def from_text(self, raw, name):
        try:
            return self(jsonsafe.loads(raw), name)
        except ValueError:
            raise invalid(name, self.expected) from None


class Timestamp(Field):
    """An ISO 8601 time (a trailing Z allowed), answered as a datetime in UTC."""

    expected = "an ISO 8601 time such as 2026-01-31T12:00:00Z"
    schema = {"type": "string", "format": "date-time"}

    def clean(self, value, name):
        if isinstance(value, dt.datetime):
            parsed = value
        else:
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if isinstance(value, str) else "")
            except ValueError:
                raise invalid(name, self.expected) from None
        return parsed.astimezone(dt.timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


class Schema:
    """The fields a request may carry. `aliases`: {a caller's name: otabox's name} (a seed's
    spelling); `ignored`: names a real tool sends that otabox has no use for (accepted, dropped);
    `hints`: {a name callers get wrong or otabox does not support: what to do instead}."""

    def __init__(self, fields: Mapping[str, Field], *, aliases: Mapping[str, str] | None = None,
                 ignored: Iterable[str] = (), hints: Mapping[str, str] | None = None):
        self.fields, self.aliases = dict(fields), dict(aliases or {})
        self.ignored, self.hints = frozenset(ignored), dict(hints or {})
        assert set(self.aliases.values()) <= set(self.fields), "an alias must name a field"

    def extend(self, fields: Mapping[str, Field] | None = None, *, aliases: Mapping[str, str] | None = None,
               ignored: Iterable[str] = (), hints: Mapping[str, str] | None = None) -> Schema:
        """This schema with more fields, aliases, ignored names and hints."""
        return Schema({**self.fields, **(fields or {})}, aliases={**self.aliases, **(aliases or {})},
                      ignored=self.ignored | frozenset(ignored), hints={**self.hints, **(hints or {})})

    def only(self, *names: str) -> Schema:
        """This schema reduced to `names` (and the aliases and hints that still apply)."""
        return Schema({n: self.fields[n] for n in names}, aliases={a: n for a, n in self.aliases.items() if n in names},
                      ignored=self.ignored, hints=self.hints)

    @property
    def known(self) -> list[str]:
        return sorted({*self.fields, *self.aliases, *self.ignored})

    def unknown(self, name: str, where: str = "") -> UnknownField:
        full = f"{where}{name}"
        if name in self.hints:
            return UnknownField(f"{full} is not accepted here: {self.hints[name]}",
                                details={"field": full, "hint": self.hints[name]})
        folded = [k for k in self.known if k.lower() == name.lower()]
        close = folded or difflib.get_close_matches(name, self.known, n=1, cutoff=0.6)
        suggestion = f"{where}{close[0]}" if close else None
        message = f"unknown field {full!r}" + (f"; did you mean {suggestion!r}?" if suggestion else
                                              f"; accepted: {', '.join(self.known) or 'none'}")
        return UnknownField(message, details={"field": full, "suggestion": suggestion, "accepted": self.known})

    def validate(self, body, where: str = "") -> dict:
        """The clean values of the fields `body` (a JSON object) carries."""
        if not isinstance(body, Mapping):
            raise BadRequest(f"{where.rstrip('.') or 'the body'} must be a JSON object", code="invalid_json")
        return self._validate(body, where, lambda field, value, name: field(value, name))

    def validate_text(self, values: Mapping[str, str], where: str = "") -> dict:
        """The same for text values (a query string, form fields); an empty value counts as absent, but
        its name is checked all the same (`?chanel=` is a typo, not an absent channel)."""
        unknown = next((name for name in values if name not in self.ignored
                        and self.aliases.get(name, name) not in self.fields), None)
        if unknown is not None:
            raise self.unknown(str(unknown), where)
        present = {k: v for k, v in values.items() if v != ""}
        return self._validate(present, where, lambda field, value, name: field.from_text(value, name))

    def _validate(self, body: Mapping, where: str, check) -> dict:
        clean = {}
        for name, value in body.items():
            if name in self.ignored:
                continue
            target = self.aliases.get(name, name)
            if target not in self.fields:
                raise self.unknown(str(name), where)
            if target in clean:
                twins = sorted(a for a, t in self.aliases.items() if t == target)
                raise BadRequest(f"send {where}{target} or {' or '.join(where + t for t in twins)}, not both",
                                 details={"field": f"{where}{target}"})
            clean[target] = check(self.fields[target], value, f"{where}{name}")
        for name, field in self.fields.items():
            if name in clean:
                continue
            if field.required:
                raise BadRequest(f"{where}{name} is required", details={"field": f"{where}{name}"})
            if field.default is not MISSING:
                clean[name] = field.default
        return clean

    def json_schema(self) -> dict:
        """The JSON Schema of a body (for the OpenAPI document): every field, aliases and ignored
        names as documented extras, nothing else."""
        properties = {name: field.json_schema() for name, field in self.fields.items()}
        for alias, name in self.aliases.items():
            properties[alias] = {**properties[name], "description": f"Another name for {name}"}
        for name in sorted(self.ignored):
            properties[name] = {"description": "Accepted and ignored (a client sends it; otabox has no use for it)"}
        required = [name for name, field in self.fields.items() if field.required]
        return {"type": "object", "properties": properties, **({"required": required} if required else {}),
                "additionalProperties": False}


NOTHING = Schema({})
"""A request that carries no fields."""
