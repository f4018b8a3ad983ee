"""Flag evaluation as pure functions: deterministic splits (properties over many keys), each operator,
rule order, channel switches and defaults, and what a context may be."""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otabox.core import flag_eval as ev

ON, OFF = ev.Variant(1, "on", True), ev.Variant(2, "off", False)
KEYS = [f"user-{n}" for n in range(10_000)]


def context(targeting_key: str | None = "user-1", channel: str = "production", **attributes) -> ev.Context:
    return ev.read_context({**({"targetingKey": targeting_key} if targeting_key else {}),
                            "channel": channel, **attributes})


def rule(rule_type: str, rule_id: int = 1, variant=ON, channel=None, **parts) -> ev.RuleView:
    return ev.RuleView(rule_id, rule_type, 0, channel, variant, {}, **parts)


def flag(*rules, enabled=True, channels=None, default=OFF, key="new-checkout") -> ev.FlagView:
    return ev.FlagView(7, key, "boolean", enabled, default, (ON, OFF), channels or {}, tuple(rules))


def split(weights: list[tuple[ev.Variant, float]]):
    return ev.compile_rollout([{"variantValue": v.value, "weight": w} for v, w in weights],
                              {True: ON, False: OFF, "a": ev.Variant(3, "a", "a"), "b": ev.Variant(4, "b", "b"),
                               "c": ev.Variant(5, "c", "c")}.__getitem__)


# --- deterministic splits -----------------------------------------------------------------------------

def test_the_bucket_is_sha256_of_flag_key_and_targeting_key():
    digest = hashlib.sha256(b"new-checkout:user-42").digest()
    assert ev.bucket("new-checkout", "user-42") == int.from_bytes(digest[:8], "big") % 10_000


@settings(max_examples=200, deadline=None)
@given(flag_key=st.text(min_size=1, max_size=40), targeting_key=st.text(min_size=1, max_size=80),
       weight=st.integers(0, 100))
def test_a_key_always_gets_the_same_variant_and_more_weight_never_takes_it_out(flag_key, targeting_key, weight):
    """Stable per key; and widening a rollout (5% → 50%) keeps everyone who was in it."""
    served = rule("percentage_rollout", rollout=split([(ON, weight)]))
    first = served.match(flag_key, context(targeting_key))
    assert all(served.match(flag_key, context(targeting_key)) == first for _ in range(3))
    if first is ON:
        wider = rule("percentage_rollout", rollout=split([(ON, min(100, weight + 10))]))
        assert wider.match(flag_key, context(targeting_key)) is ON


@settings(max_examples=12, deadline=None)
@given(flag_key=st.text(min_size=1, max_size=30),
       weights=st.lists(st.integers(1, 60), min_size=2, max_size=3).filter(lambda w: sum(w) <= 100))
def test_over_ten_thousand_keys_each_variant_gets_close_to_its_weight(flag_key, weights):
    variants = [ev.Variant(3, "a", "a"), ev.Variant(4, "b", "b"), ev.Variant(5, "c", "c")][:len(weights)]
    served = rule("percentage_rollout", rollout=split(list(zip(variants, weights))))
    counts: dict[str | None, int] = {}
    for key in KEYS:
        variant = served.match(flag_key, context(key))
        counts[variant.name if variant else None] = counts.get(variant.name if variant else None, 0) + 1
    for variant, weight in zip(variants, weights):
        # 10 000 draws: a binomial's standard deviation is at most 50 keys; allow 4.5 of them
        assert abs(counts.get(variant.name, 0) - weight * 100) <= 225, (weight, counts)
    assert abs(counts.get(None, 0) - (100 - sum(weights)) * 100) <= 225


def test_splits_of_different_flags_are_independent():
    five = rule("percentage_rollout", rollout=split([(ON, 50)]))
    in_a = {k for k in KEYS[:2000] if five.match("flag-a", context(k)) is ON}
    in_b = {k for k in KEYS[:2000] if five.match("flag-b", context(k)) is ON}
    assert 350 < len(in_a & in_b) < 650  # about a quarter of 2000, not all of one half


def test_weights_are_checked():
    for bad in ([], [{"variantValue": True, "weight": 101}], [{"variantValue": True, "weight": 60},
                                                               {"variantValue": False, "weight": 41}],
                [{"variantValue": True, "weight": 0.001}], [{"variantValue": True}], [{"weight": 5}]):
        with pytest.raises(ev.Refused):
            ev.compile_rollout(bad, lambda value: ON)
    assert ev.compile_rollout([{"variantValue": True, "weight": 0.07}], lambda value: ON) == ((7, ON),)


# --- operators ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("operator, values, matches, misses", [
    ("eq", ["pro"], ["pro"], ["free", "Pro", 1]),
    ("eq", [3], [3, 3.0, "3"], [4, "three"]),
    ("eq", [True], [True, "true"], [False, 1]),
    ("neq", ["free"], ["pro", 2], ["free"]),
    ("in", ["US", "CA"], ["US", "CA"], ["GB", "us"]),
    ("not_in", ["CN"], ["US"], ["CN"]),
    ("contains", ["@corp.com"], ["a@corp.com", ["x", "@corp.com"]], ["a@gmail.com", ["a@corp.com.x"]]),
    ("starts_with", ["admin"], ["admin-1", "administrator"], ["the-admin"]),
    ("ends_with", ["@internal.co"], ["ops@internal.co"], ["ops@internal.com"]),
    ("gt", [18], [19, "18.5", 100], [18, 17, "x", True]),
    ("gte", [18], [18, "18"], [17.99]),
    ("lt", [2.5], [2, "-1"], [2.5, 3]),
    ("lte", ["2.5"], [2.5, 1], [2.51]),
    ("semver_eq", ["2.4.0"], ["2.4.0", "2.4", "2.4.0+7"], ["2.4.1", "two"]),
    ("semver_gt", ["2.4.0"], ["2.4.1", "10.0.0", "3"], ["2.4.0", "2.3.99", "2.4.1-beta.x.y.z!"]),
    ("semver_gte", ["2.4.0"], ["2.4.0", "2.5"], ["2.4.0-beta.1", "1.9.9"]),
    ("semver_lt", ["2.0.0"], ["1.10.3", "2.0.0-rc.1"], ["2.0.0", "10.0.0"]),
    ("semver_lte", ["2.0.0"], ["2.0.0", "1"], ["2.0.1"]),
])
def test_each_operator_on_present_values(operator, values, matches, misses):
    condition = ev.compile_condition("attr", operator, values)
    for value in matches:
        assert condition.holds(context(attr=value)), (operator, value)
    for value in misses:
        assert not condition.holds(context(attr=value)), (operator, value)
    assert not condition.holds(context()), "an absent attribute matches no comparison"
    assert not condition.holds(context(attr=None)), "null is absent"


def test_exists_and_not_exists():
    exists, absent = ev.compile_condition("beta", "exists", []), ev.compile_condition("beta", "not_exists", None)
    assert exists.holds(context(beta=False)) and not absent.holds(context(beta=False))
    assert absent.holds(context()) and absent.holds(context(beta=None)) and not exists.holds(context())


def test_dotted_attributes_read_inside_objects():
    condition = ev.compile_condition("ota.branch", "eq", ["canary"])
    assert condition.holds(context(ota={"branch": "canary"}))
    assert condition.holds(context(**{"ota.branch": "canary"}))
    assert not condition.holds(context(ota="canary"))


@pytest.mark.parametrize("attribute, operator, values", [
    ("", "eq", ["x"]), ("a", "matches", [".*"]), ("a", "regex", ["x"]), ("a", "eq", ["x", "y"]),
    ("a", "in", []), ("a", "gt", ["ten"]), ("a", "semver_gt", ["not a version"]), ("a", "exists", ["x"]),
    ("a", "in", [{"nested": 1}]), ("a", "in", "x"), ("a", "eq", [float("nan")]), ("a", "in", ["x" * 1001]),
])
def test_conditions_that_cannot_be_evaluated_are_refused(attribute, operator, values):
    with pytest.raises(ev.Refused):
        ev.compile_condition(attribute, operator, values)


def test_segments_match_all_or_any():
    ios = ev.compile_condition("platform", "eq", ["ios"])
    pro = ev.compile_condition("plan", "eq", ["pro"])
    every, some = ev.SegmentView("s", True, (ios, pro)), ev.SegmentView("s", False, (ios, pro))
    assert every.contains(context(platform="ios", plan="pro")) and not every.contains(context(platform="ios"))
    assert some.contains(context(platform="ios")) and not some.contains(context(platform="android"))
    assert not ev.SegmentView("s", True, ()).contains(context()), "an empty segment holds nobody"


# --- rules and flags ----------------------------------------------------------------------------------

def test_first_matching_rule_wins_and_reasons_say_why():
    vip = rule("user_list", 1, ON, targeting_keys=frozenset({"vip"}))
    android_off = rule("attribute", 2, OFF, condition=ev.compile_condition("platform", "eq", ["android"]))
    everyone = rule("percentage_rollout", 3, rollout=split([(ON, 100)]))
    served = flag(vip, android_off, everyone)
    assert ev.evaluate(served, context("vip", platform="android")) == ev.Evaluation(
        "new-checkout", True, "on", ev.TARGETING_MATCH, 1)
    assert ev.evaluate(served, context("x", platform="android")).rule_id == 2
    assert ev.evaluate(served, context("x", platform="ios")) == ev.Evaluation(
        "new-checkout", True, "on", ev.SPLIT, 3)
    assert ev.evaluate(flag(vip), context("x")) == ev.Evaluation("new-checkout", False, "off", ev.DEFAULT)
    assert ev.evaluate(flag(), context("x")).reason == ev.STATIC


def test_switches_and_defaults_per_channel():
    vip = rule("user_list", 1, ON, channel="staging", targeting_keys=frozenset({"vip"}))
    served = flag(vip, channels={"beta": ev.ChannelSetting(False, ON), "qa": ev.ChannelSetting(True, ON)})
    assert ev.evaluate(served, context("vip", channel="staging")).reason == ev.TARGETING_MATCH
    assert ev.evaluate(served, context("vip")).reason == ev.STATIC, "the rule is for staging only"
    assert ev.evaluate(served, context("vip", channel="beta")) == ev.Evaluation(
        "new-checkout", True, "on", ev.DISABLED)
    assert ev.evaluate(served, context("x", channel="qa")).value is True, "the channel's own default"
    master_off = flag(vip, enabled=False, channels={"qa": ev.ChannelSetting(True, ON)})
    assert ev.evaluate(master_off, context("vip", channel="qa")) == ev.Evaluation(
        "new-checkout", True, "on", ev.DISABLED)


def test_a_split_without_targeting_key_is_an_error_only_when_reached():
    vip = rule("user_list", 1, ON, targeting_keys=frozenset({"vip"}))
    rollout = rule("percentage_rollout", 2, rollout=split([(ON, 50)]))
    assert ev.evaluate(flag(rollout), context(None)).error_code == ev.TARGETING_KEY_MISSING
    assert ev.evaluate(flag(vip, rollout), context("vip")).reason == ev.TARGETING_MATCH
    gated = rule("percentage_rollout", 2, rollout=split([(ON, 50)]),
                 segment=ev.SegmentView("pro", True, (ev.compile_condition("plan", "eq", ["pro"]),)))
    assert ev.evaluate(flag(gated), context(None, plan="free")).reason == ev.DEFAULT


def test_ota_update_rules_match_the_running_update():
    target = ev.OtaTarget(bundle_id=12, version="1.4.0", platform="ios", package_hash="abc", release_id=30)
    served = flag(rule("ota_update", ota=target))
    for running in ({"bundleId": 12}, {"bundleId": "12"}, {"releaseId": 30}, {"packageHash": "abc"},
                    {"bundleVersion": "1.4.0"}, {"bundleVersion": "1.4.0", "platform": "ios"}):
        assert ev.evaluate(served, context("d", **running)).value is True, running
    for other in ({"bundleId": 13}, {"bundleVersion": "1.4.0", "platform": "android"}, {"bundleVersion": "1.4"},
                  {}):
        assert ev.evaluate(served, context("d", **other)).value is False, other
    assert ev.evaluate(flag(rule("ota_update", ota=None)), context("d", bundleId=12)).reason == ev.DEFAULT


# --- values and contexts --------------------------------------------------------------------------------

@pytest.mark.parametrize("flag_type, good, bad", [
    ("boolean", [True, False], [1, "true", None]),
    ("string", ["", "blue"], [1, None, "x" * 10_001]),
    ("number", [0, -3, 2.5, 2**53 - 1], [True, "1", float("inf"), float("nan"), 2**53]),
    ("json", [{}, [], {"a": [1]}], ["{}", 1, None, {"x": "y" * 70_000}]),
])
def test_values_are_checked_against_the_flag_type(flag_type, good, bad):
    for value in good:
        assert ev.flag_value(flag_type, value) == value
    for value in bad:
        with pytest.raises(ev.Refused):
            ev.flag_value(flag_type, value)


def test_value_keys_equate_equal_json_values_only():
    assert ev.value_key(1) == ev.value_key(1.0)
    assert ev.value_key({"b": 1, "a": [2.0]}) == ev.value_key({"a": [2], "b": 1})
    assert ev.value_key(True) != ev.value_key(1) and ev.value_key("1") != ev.value_key(1)


def test_contexts():
    assert ev.read_context(None) == ev.Context(None, "user", "production", {})
    read = ev.read_context({"targetingKey": "d1", "kind": "device", "channel": "staging", "plan": "pro"})
    assert (read.targeting_key, read.kind, read.channel, read.get("plan")) == ("d1", "device", "staging", "pro")
    assert ev.read_context({"targetingKey": ""}).targeting_key is None
    for bad in ([], "x", {"targetingKey": 5}, {"targetingKey": "k" * 257}, {"channel": ""}, {"kind": 3},
                {f"a{n}": n for n in range(201)}):
        with pytest.raises(ev.Refused):
            ev.read_context(bad)
