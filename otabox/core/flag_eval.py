"""Evaluating feature flags: pure functions over an in-memory picture of an app's flags.

No database and no HTTP: `flags.py` builds the picture (`FlagSet`) once per serving-state generation
and the OFREP adapter asks `evaluate` for each flag. The rules of evaluation, in order:
- a flag off (its own switch, or its switch in the context's channel) serves the channel's default
  value, else the flag's, with reason DISABLED;
- a flag with no rule for the channel serves that default with reason STATIC;
- otherwise its rules are tried by ascending priority (then creation order) and the first that
  matches decides (TARGETING_MATCH, or SPLIT for a percentage rollout); no match: the default, DEFAULT.
A percentage split puts a context in bucket SHA-256(`flagKey:targetingKey`) mod 10 000, so the same
key always lands in the same bucket of a flag, and buckets of different flags are independent.

The same module checks what may be stored (`flag_value`, `compile_condition`, `compile_rollout`), so
a rule that was accepted can always be evaluated."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from typing import Callable

from . import semver

FLAG_TYPES = ("boolean", "string", "number", "integer", "float", "json")
"""`number` is a float (as before `integer` and `float` existed): its values are sent as floats."""
RULE_TYPES = ("user_list", "percentage_rollout", "attribute", "segment", "ota_update")
CONTEXT_KINDS = ("user", "device", "organization", "service", "environment")
OPERATORS = ("eq", "neq", "in", "not_in", "contains", "starts_with", "ends_with", "gt", "gte", "lt", "lte",
             "semver_eq", "semver_gt", "semver_gte", "semver_lt", "semver_lte", "exists", "not_exists")
STATIC, TARGETING_MATCH, SPLIT, DEFAULT, DISABLED = "STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED"
TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
BUCKETS = 10_000
"""A split's resolution: hundredths of a percent."""
DEFAULT_CHANNEL = "production"
MAX_SAFE_INTEGER = 2**53 - 1
"""Number values are limited to what JavaScript clients read exactly."""
MAX_STRING = 10_000
MAX_JSON_VALUE = 64 * 1024
MAX_CONDITION_VALUES = 1000
MAX_CONDITION_TEXT = 1000
MAX_TARGETING_KEY = 256
MAX_CONTEXT_ATTRIBUTES = 200
_MISSING = object()


class Refused(ValueError):
    """A value, condition or context that cannot be used; the message says why (one sentence)."""


# --- values ------------------------------------------------------------------------------------------

def flag_value(flag_type: str, value, what: str = "the value"):
    """`value` if it is a valid value of `flag_type`, else Refused."""
    if flag_type == "boolean":
        ok = isinstance(value, bool)
    elif flag_type == "string":
        ok = isinstance(value, str) and len(value) <= MAX_STRING
    elif flag_type in NUMBER_TYPES:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              and abs(value) <= MAX_SAFE_INTEGER and (flag_type != "integer" or value == int(value)))
    else:
        ok = isinstance(value, (dict, list)) and len(json.dumps(value)) <= MAX_JSON_VALUE
    if not ok:
        raise Refused(f"{what} must be {_TYPE_WORDS[flag_type]}")
    return typed(flag_type, value)


NUMBER_TYPES = ("number", "integer", "float")


def typed(flag_type: str, value):
    """A flag's value in its declared kind: an `integer` flag's as int, a `float` (or `number`) flag's
    as float, so 10 goes out as `10.0`, which OpenFeature providers' float getters require."""
    if flag_type == "integer":
        return int(value)
    if flag_type in ("number", "float"):
        return float(value)
    return value


_NUMBER_RANGE = f"between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}"
_TYPE_WORDS = {"boolean": "true or false", "string": f"a string of at most {MAX_STRING} characters",
               "number": f"a finite number {_NUMBER_RANGE}", "float": f"a finite number {_NUMBER_RANGE}",
               "integer": f"a whole number {_NUMBER_RANGE}",
               "json": f"a JSON object or array of at most {MAX_JSON_VALUE} bytes"}


def value_key(value) -> str:
    """A text equal for equal values (1 and 1.0 are the same number; true is not 1)."""
    def normal(v):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: normal(x) for k, x in v.items()}
        if isinstance(v, list):
            return [normal(x) for x in v]
        return v
    return json.dumps(normal(value), sort_keys=True, separators=(",", ":"))


def _text(value) -> str | None:
    """How a scalar attribute or condition value compares as text (None: not a scalar)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return None


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and len(value) <= 64:
        return _number_in_text(value)
    return None


@functools.lru_cache(maxsize=4096)
def _number_in_text(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _version(value) -> semver.Version | None:
    if not isinstance(value, str) or len(value) > semver.MAX_VERSION_LENGTH:
        return None
    return _version_in_text(value)


@functools.lru_cache(maxsize=4096)
def _version_in_text(text: str) -> semver.Version | None:
    """Parsed once per distinct text (an app's few versions), not once per condition and evaluation."""
    try:
        return semver.coerce_app_version(text)
    except ValueError:
        return None


# --- contexts ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Context:
    """An evaluation context: the targeting key, the kind, the channel, and every attribute as sent."""

    targeting_key: str | None
    kind: str
    channel: str
    attributes: dict
    segments: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)
    """Segment key -> whether the context is in it, so a bulk evaluation tests each segment once."""

    def get(self, attribute: str):
        """The attribute's value, or _MISSING; `a.b` also reads b inside an object a (e.g. ota.branch)."""
        value = self.attributes.get(attribute, _MISSING)
        if value is _MISSING and "." in attribute:
            value = self.attributes
            for part in attribute.split("."):
                value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
                if value is _MISSING:
                    break
        return _MISSING if value is None else value


def read_context(data) -> Context:
    """A context from an evaluation request's `context` object (absent: an empty context)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise Refused("the context must be a JSON object")
    if len(data) > MAX_CONTEXT_ATTRIBUTES:
        raise Refused(f"the context has more than {MAX_CONTEXT_ATTRIBUTES} attributes")
    key = data.get("targetingKey")
    if key is not None and not isinstance(key, str):
        raise Refused("targetingKey must be a string")
    if key is not None and len(key) > MAX_TARGETING_KEY:
        raise Refused(f"targetingKey must be at most {MAX_TARGETING_KEY} characters")
    kind, channel = data.get("kind"), data.get("channel")
    for name, value in (("kind", kind), ("channel", channel)):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 64):
            raise Refused(f"{name} must be a string of 1 to 64 characters")
    return Context(key or None, kind or "user", channel or DEFAULT_CHANNEL, data)


# --- conditions --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Condition:
    attribute: str
    operator: str
    values: tuple
    test: Callable[[object], bool] = dataclasses.field(compare=False, repr=False)

    def holds(self, context: Context) -> bool:
        value = context.get(self.attribute)
        if self.operator == "exists":
            return value is not _MISSING
        if self.operator == "not_exists":
            return value is _MISSING
        return value is not _MISSING and self.test(value)


def _comparisons(operator: str, values: list) -> Callable[[object], bool]:
    """The test of a present attribute value for each operator (values already checked)."""
    texts = frozenset(_text(v) for v in values)
    if operator in ("eq", "in"):
        return lambda v: _text(v) in texts
    if operator in ("neq", "not_in"):
        return lambda v: (t := _text(v)) is not None and t not in texts
    if operator in ("contains", "starts_with", "ends_with"):
        words = tuple(texts)
        if operator == "contains":
            return lambda v: (any(_text(item) in texts for item in v) if isinstance(v, list)
                              else (t := _text(v)) is not None and any(w in t for w in words))
        method = str.startswith if operator == "starts_with" else str.endswith
        return lambda v: (t := _text(v)) is not None and method(t, words)
    if operator in ("gt", "gte", "lt", "lte"):
        limit = _number(values[0])
        compare = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}[operator]
        return lambda v: (n := _number(v)) is not None and compare(n, limit)
    limit = _version(values[0])
    wanted = {"semver_eq": (0,), "semver_gt": (1,), "semver_gte": (0, 1), "semver_lt": (-1,),
              "semver_lte": (-1, 0)}[operator]
    return lambda v: (version := _version(v)) is not None and version.compare(limit) in wanted


def compile_condition(attribute, operator, values) -> Condition:
    """A condition from stored or submitted parts; Refused (with the reason) when it cannot be evaluated."""
    if not isinstance(attribute, str) or not 0 < len(attribute) <= 256:
        raise Refused("attribute must be a string of 1 to 256 characters")
    if operator not in OPERATORS:
        raise Refused(f"operator must be one of {', '.join(OPERATORS)}")
    values = [] if values is None else values
    if not isinstance(values, list) or len(values) > MAX_CONDITION_VALUES:
        raise Refused(f"values must be a list of at most {MAX_CONDITION_VALUES} strings, numbers or booleans")
    for value in values:
        if _text(value) is None or (isinstance(value, str) and len(value) > MAX_CONDITION_TEXT) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise Refused(f"each value must be a string of at most {MAX_CONDITION_TEXT} characters, a number "
                          "or a boolean")
    if operator in ("exists", "not_exists"):
        if values:
            raise Refused(f"{operator} takes no values")
        return Condition(attribute, operator, (), lambda v: True)
    single = operator in ("eq", "neq") or operator.startswith(("gt", "lt", "semver_"))
    if single and len(values) != 1:
        raise Refused(f"{operator} takes exactly one value")
    if not values:
        raise Refused(f"{operator} needs at least one value")
    if operator.startswith(("gt", "lt")) and _number(values[0]) is None:
        raise Refused(f"{operator} compares numbers: its value must be a number")
    if operator.startswith("semver_") and _version(values[0]) is None:
        raise Refused(f"{operator} compares versions: its value must be a version such as 2.4.0")
    return Condition(attribute, operator, tuple(values), _comparisons(operator, values))


@dataclasses.dataclass(frozen=True)
class SegmentView:
    key: str
    match_all: bool
    conditions: tuple[Condition, ...]

    def contains(self, context: Context) -> bool:
        found = context.segments.get(self.key)
        if found is None:
            combine = all if self.match_all else any
            found = context.segments[self.key] = bool(self.conditions) and combine(
                condition.holds(context) for condition in self.conditions)
        return found


# --- rules -------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Variant:
    id: int
    name: str
    value: object


@dataclasses.dataclass(frozen=True)
class OtaTarget:
    """The OTA update an `ota_update` rule names: devices say which one they run in their context as
    `bundleId`, `releaseId`, `packageHash` (CodePush) or `bundleVersion` (with `platform`)."""

    bundle_id: int
    version: str
    platform: str
    package_hash: str | None
    release_id: int | None

    def runs_on(self, context: Context) -> bool:
        if _text(context.get("bundleId")) == str(self.bundle_id):
            return True
        if self.release_id is not None and _text(context.get("releaseId")) == str(self.release_id):
            return True
        if self.package_hash and context.get("packageHash") == self.package_hash:
            return True
        platform = context.get("platform")
        return context.get("bundleVersion") == self.version and (
            self.platform == "all" or platform is _MISSING or platform == self.platform)


def compile_rollout(entries, variant_for: Callable[[object], Variant]) -> tuple[tuple[int, Variant], ...]:
    """[(upper bucket bound, variant)] from [{variantValue, weight}]: weights are percentages (to two
    decimals) that add up to at most 100; contexts in the buckets past their sum fall through."""
    if not isinstance(entries, list) or not 0 < len(entries) <= 100:
        raise Refused("rollout must be a list of 1 to 100 {variantValue, weight} entries")
    bounds, total = [], 0
    for entry in entries:
        if not isinstance(entry, dict) or "variantValue" not in entry:
            raise Refused("each rollout entry needs variantValue and weight")
        weight = entry.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 100 \
                or abs(weight * 100 - round(weight * 100)) > 1e-6:
            raise Refused("each weight must be a percentage from 0 to 100 with at most two decimals")
        total += round(weight * 100)
        bounds.append((total, variant_for(entry["variantValue"])))
    if total > BUCKETS:
        raise Refused("the weights add up to more than 100")
    return tuple(bounds)


def bucket(flag_key: str, targeting_key: str) -> int:
    """0..9999: where a targeting key falls in a flag's splits."""
    digest = hashlib.sha256(f"{flag_key}:{targeting_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


class _NeedsTargetingKey(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class RuleView:
    id: int
    rule_type: str
    priority: int
    channel: str | None
    variant: Variant | None
    config: dict
    """As stored, for the flag definitions that on-device providers evaluate."""
    targeting_keys: frozenset = frozenset()
    condition: Condition | None = None
    segment: SegmentView | None = None
    rollout: tuple[tuple[int, Variant], ...] = ()
    ota: OtaTarget | None = None

    def match(self, flag_key: str, context: Context) -> Variant | None:
        kind = self.rule_type
        if kind == "user_list":
            return self.variant if context.targeting_key in self.targeting_keys else None
        if kind == "attribute":
            return self.variant if self.condition.holds(context) else None
        if kind == "segment":
            return self.variant if self.segment is not None and self.segment.contains(context) else None
        if kind == "ota_update":
            return self.variant if self.ota is not None and self.ota.runs_on(context) else None
        if self.segment is not None and not self.segment.contains(context):
            return None
        if context.targeting_key is None:
            raise _NeedsTargetingKey
        place = bucket(flag_key, context.targeting_key)
        return next((variant for bound, variant in self.rollout if place < bound), None)


# --- flags -------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ChannelSetting:
    enabled: bool
    default: Variant | None


@dataclasses.dataclass(frozen=True)
class FlagView:
    id: int
    key: str
    flag_type: str
    enabled: bool
    default: Variant
    variants: tuple[Variant, ...]
    channels: dict[str, ChannelSetting]
    rules: tuple[RuleView, ...]
    """In evaluation order."""
    by_channel: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)
    outcomes: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)
    encoded: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)
    """For adapters: replies already encoded, by outcome (they live as long as this view)."""

    def served_in(self, channel: str) -> tuple[bool, Variant, tuple[RuleView, ...]]:
        """Whether the flag is on in `channel`, its default there, and the rules that apply there."""
        found = self.by_channel.get(channel)
        if found is None:
            setting = self.channels.get(channel)
            enabled = self.enabled and (setting is None or setting.enabled)
            default = setting.default if setting is not None and setting.default is not None else self.default
            found = self.by_channel[channel] = (
                enabled, default, tuple(r for r in self.rules if r.channel is None or r.channel == channel))
        return found

    def outcome(self, variant: Variant, reason: str, rule_id: int | None = None) -> Evaluation:
        """The one Evaluation of each outcome: a flag has few, so none is built per request."""
        key = (variant.id, reason, rule_id)
        found = self.outcomes.get(key)
        if found is None:
            found = self.outcomes[key] = Evaluation(self.key, variant.value, variant.name, reason, rule_id)
        return found


@dataclasses.dataclass(frozen=True)
class FlagSet:
    """Every flag of one app, by key (sorted)."""

    app_id: int
    flags: dict[str, FlagView]
    replies: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)
    """For adapters: whole replies already encoded, by the outcomes they hold (they live as long as
    this set; an adapter bounds how many it keeps)."""


@dataclasses.dataclass(frozen=True)
class Evaluation:
    key: str
    value: object = None
    variant: str | None = None
    reason: str | None = None
    rule_id: int | None = None
    error_code: str | None = None
    error_details: str | None = None


def evaluate(flag: FlagView, context: Context) -> Evaluation:
    enabled, default, rules = flag.served_in(context.channel)
    if not enabled:
        return flag.outcome(default, DISABLED)
    if not rules:
        return flag.outcome(default, STATIC)
    for rule in rules:
        try:
            variant = rule.match(flag.key, context)
        except _NeedsTargetingKey:
            return Evaluation(flag.key, error_code=TARGETING_KEY_MISSING,
                              error_details=f"flag {flag.key!r} splits by targetingKey, which the context lacks")
        if variant is not None:
            return flag.outcome(variant, SPLIT if rule.rule_type == "percentage_rollout" else TARGETING_MATCH,
                                rule.id)
    return flag.outcome(default, DEFAULT)
