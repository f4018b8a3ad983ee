"""The field validators and schemas every management request goes through, as tables."""
from __future__ import annotations

import datetime as dt

import pytest

from otabox.errors import BadRequest, UnknownField
from otabox.fields import (
    Any,
    Boolean,
    Choice,
    IdOrName,
    Json,
    ListOf,
    Nested,
    Number,
    Percentage,
    Schema,
    Text,
    Timestamp,
    Whole,
)

UTC = dt.timezone.utc
REFUSED = object()


def outcome(check):
    try:
        return check()
    except BadRequest as exc:
        assert exc.details["field"].startswith("f"), exc.details  # every refusal names the field (or its item)
        return REFUSED


@pytest.mark.parametrize("field, value, expected", [
    (Text(5), "abc", "abc"),
    (Text(5), "", ""),
    (Text(5), "abcdef", REFUSED),
    (Text(5, min_length=1), "", REFUSED),
    (Text(5), 3, REFUSED),
    (Text(5), None, REFUSED),
    (Text(5, nullable=True), None, None),
    (Text(10, pattern=r"[a-z]+"), "abc", "abc"),
    (Text(10, pattern=r"[a-z]+"), "abc1", REFUSED),
    (Text(10, check=lambda s: s.startswith("^")), "^1.2", "^1.2"),
    (Text(10, check=lambda s: s.startswith("^")), "1.2", REFUSED),
    (Text(10, strip=True, min_length=1), "  x ", "x"),
    (Text(10, strip=True, min_length=1), "   ", REFUSED),
    (Boolean(), True, True),
    (Boolean(), False, False),
    (Boolean(), "true", REFUSED),
    (Boolean(), 1, REFUSED),
    (Boolean(nullable=True), None, None),
    (Whole(0, 10), 3, 3),
    (Whole(0, 10), 3.0, 3),
    (Whole(0, 10), 3.5, REFUSED),
    (Whole(0, 10), 11, REFUSED),
    (Whole(0, 10), -1, REFUSED),
    (Whole(0, 10), True, REFUSED),
    (Whole(0, 10), "3", REFUSED),
    (Whole(), 10**30, REFUSED),
    (Number(0, 1), 0.5, 0.5),
    (Number(0, 1), float("nan"), REFUSED),
    (Number(0, 1), float("inf"), REFUSED),
    (Percentage(), 0, 0),
    (Percentage(), 100, 100),
    (Percentage(), 101, REFUSED),
    (Percentage(low=1), 0, REFUSED),
    (Choice(("a", "b")), "a", "a"),
    (Choice(("a", "b")), "c", REFUSED),
    (Choice(("a", "b")), ["a"], REFUSED),
    (IdOrName(), 7, 7),
    (IdOrName(), "v1.2", "v1.2"),
    (IdOrName(), 0, REFUSED),
    (IdOrName(), "", REFUSED),
    (IdOrName(), True, REFUSED),
    (IdOrName(), "x" * 201, REFUSED),
    (ListOf(Text(3), max_items=2), ["a", "b"], ["a", "b"]),
    (ListOf(Text(3), max_items=2), ["a", "b", "c"], REFUSED),
    (ListOf(Text(3), min_items=1), [], REFUSED),
    (ListOf(Text(3)), ["abcd"], REFUSED),
    (ListOf(Text(3)), "a", REFUSED),
    (ListOf(Text(3), unique=True), ["a", "a"], REFUSED),
    (Nested(Schema({"a": Whole(0, 5, required=True)})), {"a": 1}, {"a": 1}),
    (Nested(Schema({"a": Whole(0, 5)})), [], REFUSED),
    (Json(), {"a": [1]}, {"a": [1]}),
    (Json(), [1], REFUSED),
    (Json(max_bytes=5), {"a": 12345}, REFUSED),
    (Json(kind=(dict, list, str, int, float, bool)), "x", "x"),
    (Timestamp(), "2026-01-31T12:00:00Z", dt.datetime(2026, 1, 31, 12, tzinfo=UTC)),
    (Timestamp(), "2026-01-31T14:00:00+02:00", dt.datetime(2026, 1, 31, 12, tzinfo=UTC)),
    (Timestamp(), "2026-01-31", dt.datetime(2026, 1, 31, tzinfo=UTC)),
    (Timestamp(), "yesterday", REFUSED),
    (Timestamp(), 1700000000, REFUSED),
    (Any(), {"x": None}, {"x": None}),
    (Any(), None, None),
])
def test_a_value_is_cleaned_or_refused_naming_the_field(field, value, expected):
    assert outcome(lambda: field(value, "f")) == expected


@pytest.mark.parametrize("field, text, expected", [
    (Boolean(), "true", True),
    (Boolean(), "false", False),
    (Boolean(), "1", REFUSED),
    (Whole(0, 500), "20", 20),
    (Whole(0, 500), "501", REFUSED),
    (Whole(0, 500), "-1", REFUSED),
    (Whole(-5, 5), "-1", -1),
    (Whole(0, 500), "2.0", REFUSED),
    (Whole(0, 500), "\u00b2", REFUSED),  # a digit to str.isdigit, not a number
    (Whole(), "9" * 30, REFUSED),
    (Number(0, 1), "0.25", 0.25),
    (Number(0, 1), "0.2.5", REFUSED),
    (Text(3), "abc", "abc"),
    (Choice(("7", "30")), "30", "30"),
    (ListOf(Whole(0, 9)), "1,2", [1, 2]),
    (Json(), '{"a": 1}', {"a": 1}),
    (Json(), "{", REFUSED),
    (Json(), '"\\u0000"', REFUSED),
])
def test_a_text_value_is_parsed_then_checked(field, text, expected):
    assert outcome(lambda: field.from_text(text, "f")) == expected


@pytest.mark.parametrize("field, value", [
    (Whole(0, 10), 3.0), (Text(5, strip=True), " a "), (Timestamp(), "2026-01-31T12:00:00Z"),
    (ListOf(Percentage()), [1.0, 2]), (Nested(Schema({"a": Boolean()}, aliases={"b": "a"})), {"b": True}),
])
def test_a_clean_value_validates_to_itself(field, value):
    """So a core operation may validate again what an adapter already validated."""
    clean = field(value, "f")
    assert field(clean, "f") == clean


CHANNEL = Schema({"blockUpgrades": Choice(("none", "major")), "allowEmulator": Boolean(),
                  "name": Text(64, min_length=1, required=True)},
                 aliases={"disableAutoUpdate": "blockUpgrades"}, ignored=("createdBy",),
                 hints={"version": "release a bundle to the channel instead"})


@pytest.mark.parametrize("body, expected", [
    ({"name": "beta"}, {"name": "beta"}),
    ({"name": "beta", "disableAutoUpdate": "major"}, {"name": "beta", "blockUpgrades": "major"}),
    ({"name": "beta", "createdBy": "cli"}, {"name": "beta"}),
    ({"name": "beta", "allowEmulator": False}, {"name": "beta", "allowEmulator": False}),
])
def test_a_schema_answers_the_clean_fields_present(body, expected):
    assert CHANNEL.validate(body) == expected


@pytest.mark.parametrize("body, field, code, suggestion", [
    ({"name": "b", "blockUpgrade": "none"}, "blockUpgrade", "unknown_field", "blockUpgrades"),
    ({"name": "b", "allowemulator": True}, "allowemulator", "unknown_field", "allowEmulator"),
    ({"name": "b", "zzz": 1}, "zzz", "unknown_field", None),
    ({"name": "b", "version": "1.0.0"}, "version", "unknown_field", None),
    ({}, "name", "bad_request", None),
    ({"name": ""}, "name", "bad_request", None),
    ({"name": "b", "blockUpgrades": "none", "disableAutoUpdate": "none"}, "blockUpgrades", "bad_request", None),
])
def test_a_schema_refuses_with_one_error_naming_the_field(body, field, code, suggestion):
    with pytest.raises(BadRequest) as refused:
        CHANNEL.validate(body)
    error = refused.value
    assert (error.status, error.code, error.details["field"]) == (400, code, field)
    assert field in error.message
    if code == "unknown_field":
        assert error.details.get("suggestion") == suggestion
        if suggestion:
            assert f"did you mean {suggestion!r}" in error.message


def test_a_hint_says_what_to_do_instead():
    with pytest.raises(UnknownField) as refused:
        CHANNEL.validate({"name": "b", "version": "1.0.0"})
    assert refused.value.details["hint"] == "release a bundle to the channel instead"
    assert "release a bundle to the channel instead" in refused.value.message


def test_nested_fields_are_named_by_their_path():
    schema = Schema({"stages": ListOf(Nested(Schema({"percentage": Percentage(required=True)})))})
    with pytest.raises(UnknownField) as refused:
        schema.validate({"stages": [{"percentage": 5}, {"percentag": 10}]})
    assert refused.value.details["field"] == "stages[1].percentag"
    assert refused.value.details["suggestion"] == "stages[1].percentage"
    with pytest.raises(BadRequest) as missing:
        schema.validate({"stages": [{}]})
    assert missing.value.details["field"] == "stages[0].percentage"


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(BadRequest) as refused:
        CHANNEL.validate(["name"])
    assert refused.value.code == "invalid_json"


def test_text_values_treat_empty_as_absent():
    query = Schema({"limit": Whole(1, 500), "includeDeleted": Boolean()})
    assert query.validate_text({"limit": "", "includeDeleted": "true"}) == {"includeDeleted": True}
    with pytest.raises(UnknownField) as refused:
        query.validate_text({"limt": "5"})
    assert refused.value.details["suggestion"] == "limit"


def test_extend_and_only_keep_aliases_that_still_apply():
    assert CHANNEL.only("blockUpgrades").validate({"disableAutoUpdate": "none"}) == {"blockUpgrades": "none"}
    wider = CHANNEL.extend({"extra": Boolean()})
    assert wider.validate({"name": "x", "extra": True}) == {"name": "x", "extra": True}
    with pytest.raises(UnknownField):
        CHANNEL.only("allowEmulator").validate({"name": "x"})


def test_the_json_schema_lists_every_accepted_name_and_nothing_else():
    schema = CHANNEL.json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"blockUpgrades", "allowEmulator", "name", "disableAutoUpdate", "createdBy"}
    assert schema["required"] == ["name"]
    assert schema["properties"]["blockUpgrades"] == {"enum": ["none", "major"]}


@pytest.mark.parametrize("field, expected", [
    (Whole(0, 10**6), "f must be a whole number from 0 to 1000000"),
    (Whole(), "f must be a whole number from 0 to 9223372036854775807"),
    (Number(0.5, 2.0), "f must be a number from 0.5 to 2")])
def test_a_range_is_named_in_plain_numbers(field, expected):
    with pytest.raises(BadRequest) as refused:
        field(-1, "f")
    assert refused.value.message == expected
