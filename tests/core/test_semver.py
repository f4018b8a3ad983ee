"""otabox.semver against live node-semver 7.6.3 answers.

Expected results are never written down by hand for range matching: every
(version, range) pair is sent to tests/node/semver_oracle.mjs, which asks the
real node-semver, and the Python port must agree pair by pair.
"""

from __future__ import annotations

import json
import random
import subprocess

import pytest
from conftest import ROOT

from otabox.core.semver import (
    Version,
    coerce_app_version,
    is_valid_range,
    parse_range,
    parse_version,
    satisfies,
    upgrade_kind,
)

NODE_DIR = ROOT / "tests" / "node"


def node_semver_answers(pairs: list[tuple[str, str]]) -> list[bool | None]:
    """satisfies() per pair from node-semver; None where the range is invalid."""
    completed = subprocess.run(
        ["node", str(NODE_DIR / "semver_oracle.mjs")],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        cwd=NODE_DIR,
        timeout=60,
        check=True,
    )
    answers = json.loads(completed.stdout)
    assert len(answers) == len(pairs)
    return answers


def python_answer(version: str, range_text: str) -> bool | None:
    if not is_valid_range(range_text):
        assert satisfies(version, range_text) is False
        return None
    return satisfies(version, range_text)


# Ranges as CodePush users write them, each checked against versions picked
# around its boundaries.
RANGE_TABLE: dict[str, list[str]] = {
    "^1.2.0": ["1.2.0", "1.9.9", "2.0.0", "1.1.9", "1.2.1-beta", "2.0.0-0"],
    "^1.2.3-beta.2": ["1.2.3-beta.2", "1.2.3-beta.10", "1.2.3-beta.1", "1.2.4-beta.3", "1.9.0"],
    "^0.2.3": ["0.2.3", "0.2.9", "0.3.0", "0.2.2"],
    "^0.0.3": ["0.0.3", "0.0.4", "0.0.2"],
    "^0.0": ["0.0.0", "0.0.9", "0.1.0"],
    "^0.x": ["0.0.1", "0.9.9", "1.0.0"],
    "^1.x": ["1.0.0", "1.99.0", "2.0.0"],
    "^0.0.0": ["0.0.0", "0.0.1"],
    "^ 1.2.3": ["1.2.3", "1.5.0"],
    "~1.2.3": ["1.2.3", "1.2.9", "1.3.0", "1.2.2"],
    "~1.2": ["1.2.0", "1.2.99", "1.3.0", "1.1.9"],
    "~1": ["1.0.0", "1.9.9", "2.0.0"],
    "~>1.2": ["1.2.5", "1.3.0"],
    "~> 1.2.3": ["1.2.5", "1.3.0"],
    "~0.0.1": ["0.0.1", "0.0.5", "0.1.0"],
    "~1.2.3-rc.1": ["1.2.3-rc.2", "1.2.3", "1.2.4-rc.1"],
    "1.2.x": ["1.2.0", "1.2.9", "1.3.0", "1.2.0-alpha"],
    "1.X": ["1.0.0", "1.5.5", "2.0.0"],
    "1.*.*": ["1.3.3", "0.9.9"],
    "x": ["0.0.0", "99.0.0", "1.0.0-beta"],
    "*": ["1.2.3", "0.0.0", "1.2.3-alpha", "v1.2.3", " 1.2.3 ", "=1.2.3", "1.2", "", "not-a-version"],
    "": ["1.2.3", "1.0.0-rc.1"],
    "1.2": ["1.2.0", "1.2.7", "1.3.0"],
    "1": ["1.0.0", "1.99.99", "2.0.0"],
    "1.2.3": ["1.2.3", "1.2.3+build.5", "1.2.4", "v1.2.3"],
    "=1.2.3": ["1.2.3", "1.2.4"],
    "v1.2.3": ["1.2.3"],
    ">=1.2.3": ["1.2.3", "3.0.0", "1.2.2", "1.2.4-beta"],
    ">= 1.2.3": ["1.2.3", "1.2.2"],
    ">=   1.2.3  <   2.0.0": ["1.5.0", "2.0.0"],
    ">=1.0.0 <2.0.0": ["1.0.0", "1.9.9", "2.0.0", "0.9.9", "2.0.0-beta"],
    ">1.2": ["1.2.9", "1.3.0"],
    ">1": ["1.9.9", "2.0.0"],
    "<1.2": ["1.1.9", "1.2.0", "1.2.0-alpha"],
    "<=1.2": ["1.2.9", "1.3.0"],
    "<=1.x": ["1.9.9", "2.0.0"],
    "<1.2.3-beta.2": ["1.2.3-beta.1", "1.2.3-beta.2", "1.2.2"],
    ">1.2.3-alpha.3": ["1.2.3-alpha.7", "3.4.5-alpha.9", "3.4.5", "1.2.3-alpha.3"],
    ">*": ["1.0.0"],
    "<*": ["1.0.0"],
    ">=*": ["1.0.0"],
    ">=0.0.0": ["0.0.0", "1.0.0-beta"],
    "<0.0.0-0": ["0.0.0"],
    "1.0.0 - 1.5.0": ["1.0.0", "1.5.0", "1.5.1", "0.9.9", "1.2.0-beta"],
    "1.2 - 2.3.4": ["1.2.0", "2.3.4", "2.3.5", "1.1.9"],
    "1.2.3 - 2.3": ["2.3.9", "2.4.0", "1.2.2"],
    "1.2.3 - 2": ["2.9.9", "3.0.0"],
    "* - 2": ["0.0.1", "3.0.0"],
    "1.2.3-pre - 2.0.0-rc.1": ["1.2.3-pre", "2.0.0-rc.1", "2.0.0-rc.2", "1.5.0"],
    "v1.0.0 - v1.2.0": ["1.1.0", "1.3.0"],
    "1.0.0 -1.5.0": ["1.2.0"],
    "1.x || >=2.5.0": ["1.0.0", "2.4.9", "2.5.0", "10.0.0"],
    "1.2.7 || >=1.2.9 <2.0.0": ["1.2.7", "1.2.8", "1.2.9", "2.0.0"],
    "<1.0.0 || >=3.0.0-beta": ["0.9.0", "2.0.0", "3.0.0-beta.2", "3.0.0"],
    "* || >=1.2.3-beta": ["1.2.3-beta.1", "1.2.3"],
    "||": ["1.0.0"],
    "1.0.0 ||": ["1.0.0", "2.0.0"],
    "<0.0.0-0 || 1.x": ["1.2.3", "0.0.0"],
    "^1.0.0 || ^2.0.0": ["2.1.0", "3.0.0"],
    "\t^1.2.0 \n": ["1.3.0"],
    "1.2.3*": ["1.2.3"],
    ">= 1.2.3-beta <1.2.3": ["1.2.3-beta.2", "1.2.3"],
    "=1.2": ["1.2.5"],
    ">=01.2.3": ["1.2.3"],
    "1.2.3.4": ["1.2.3"],
    "blah": ["1.2.3"],
    "^1.2.3 garbage": ["1.2.3"],
    ">>1.2.3": ["1.2.3"],
    "1.2.3 - ": ["1.2.3"],
    "~": ["1.2.3"],
    "^": ["1.2.3"],
    ">=1.2.3 <=": ["1.5.0"],
    "^9007199254740991.0.0": ["1.0.0"],
    ">=9007199254740991.0.0": ["9007199254740991.0.0"],
    "1.2.3 - 2.3.4 || 5.x": ["2.0.0", "5.1.0", "4.0.0"],
}

CASES = [(version, range_text) for range_text, versions in RANGE_TABLE.items() for version in versions]


def test_case_table_is_large_enough() -> None:
    assert len(CASES) >= 150


@pytest.fixture(scope="module")
def table_expectations() -> list[bool | None]:
    return node_semver_answers(CASES)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{v!r} in {r!r}" for v, r in CASES])
def test_satisfies_matches_node_semver(index: int, table_expectations: list[bool | None]) -> None:
    version, range_text = CASES[index]
    assert python_answer(version, range_text) == table_expectations[index]


# A seeded grammar of range-like text: mostly well-formed, with enough junk,
# partials, odd whitespace and out-of-range numbers to probe every rewrite.
_NUMBERS = ["0", "1", "2", "0", "1", "2", "3", "10"]
_RARE_NUMBERS = ["01", "9007199254740991", "9007199254740992", "99999999999999999999"]
_PRERELEASES = ["alpha", "alpha.1", "beta", "beta.2", "rc.1", "0", "1", "x", "01", "1a"]
_OPERATORS = ["", "", "", "=", "<", "<=", ">", ">=", ">=", "~", "~", "~>", "^", "^", "^"]


def _random_number(rng: random.Random) -> str:
    return rng.choice(_RARE_NUMBERS) if rng.random() < 0.04 else rng.choice(_NUMBERS)


def _random_partial(rng: random.Random) -> str:
    parts = [
        rng.choice(["x", "X", "*"]) if rng.random() < 0.2 else _random_number(rng)
        for _ in range(rng.choice([1, 2, 3, 3, 3]))
    ]
    text = ".".join(parts)
    if rng.random() < 0.1:
        text = rng.choice(["v", "=", "v=", "=v"]) + text
    if len(parts) == 3 and rng.random() < 0.3:
        text += "-" + rng.choice(_PRERELEASES)
    if len(parts) == 3 and rng.random() < 0.1:
        text += "+build." + _random_number(rng)
    return text


def _random_comparator(rng: random.Random) -> str:
    gap = " " if rng.random() < 0.15 else ""
    return rng.choice(_OPERATORS) + gap + _random_partial(rng)


def _random_set(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return _random_partial(rng) + rng.choice([" - ", " - ", "  -  ", " -"]) + _random_partial(rng)
    separator = rng.choice([" ", " ", "  ", "\t"])
    return separator.join(_random_comparator(rng) for _ in range(rng.choice([1, 1, 2, 2, 3])))


def _random_range(rng: random.Random) -> str:
    sets = [_random_set(rng) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
    text = rng.choice(["||", " || ", "|| "]).join(sets)
    if rng.random() < 0.04:
        position = rng.randrange(len(text) + 1)
        text = text[:position] + rng.choice(list("*xX|-~^<>= v.+a")) + text[position:]
    return text


def _random_version(rng: random.Random) -> str:
    text = ".".join(_random_number(rng) for _ in range(3))
    if rng.random() < 0.35:
        text += "-" + rng.choice(_PRERELEASES)
    if rng.random() < 0.05:
        text = rng.choice(["v", "=", " ", "1.2", ""]) + text
    return text


def random_cases(seed: int, count: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(_random_version(rng), _random_range(rng)) for _ in range(count)]


def test_random_ranges_agree_with_node_semver() -> None:
    cases = random_cases(seed=20240601, count=600)
    expected = node_semver_answers(cases)
    disagreements = [
        (version, range_text, want, python_answer(version, range_text))
        for (version, range_text), want in zip(cases, expected)
        if python_answer(version, range_text) != want
    ]
    assert disagreements == []
    assert sum(answer is True for answer in expected) > 50
    assert sum(answer is None for answer in expected) > 20


def test_version_precedence_follows_semver_spec() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
    ]
    versions = [parse_version(text) for text in ordered]
    assert sorted(reversed(versions)) == versions
    assert all(a < b for a, b in zip(versions, versions[1:]))


def test_build_metadata_is_ignored_for_precedence_but_kept_in_text() -> None:
    with_build = parse_version("1.2.3+exp.sha.5114f85")
    assert with_build == parse_version("1.2.3+other")
    assert hash(with_build) == hash(parse_version("1.2.3"))
    assert with_build.build == ("exp", "sha", "5114f85")
    assert str(with_build) == "1.2.3+exp.sha.5114f85"
    assert with_build.core == "1.2.3"


def test_parse_version_fields() -> None:
    version = parse_version(" v1.20.3-beta.11.x-y ")
    assert version == Version(1, 20, 3, ("beta", 11, "x-y"))
    assert version.prerelease == ("beta", 11, "x-y")
    assert str(version) == "1.20.3-beta.11.x-y"


@pytest.mark.parametrize(
    "text",
    ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.3-01", "1.2.3-", "1.2.3+", "=1.2.3",
     "V1.2.3", "1.2.3 beta", "9007199254740992.0.0", "1.2.3-" + "a" * 260],
)
def test_parse_version_rejects_invalid_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_version(text)


@pytest.mark.parametrize(
    ("app_version", "expected"),
    [
        ("1", "1.0.0"),
        ("2.0", "2.0.0"),
        ("1.2.3", "1.2.3"),
        ("1.2.3-beta.1", "1.2.3-beta.1"),
        ("2.0-beta", "2.0.0-beta"),
        ("2.0+42", "2.0.0+42"),
        ("10", "10.0.0"),
    ],
)
def test_coerce_app_version_accepts_codepush_app_versions(app_version: str, expected: str) -> None:
    assert str(coerce_app_version(app_version)) == expected


@pytest.mark.parametrize("app_version", ["abc", "", "1.2.3.4", "1.", "1.2.", "v", "01", "1.2-", " 1"])
def test_coerce_app_version_rejects_non_versions(app_version: str) -> None:
    with pytest.raises(ValueError):
        coerce_app_version(app_version)


@pytest.mark.parametrize(
    ("current", "target", "kind"),
    [
        ("1.2.3", "2.0.0", "major"),
        ("1.9.9", "2.0.0-beta", "major"),
        ("1.2.3", "1.3.0", "minor"),
        ("1.2.3", "1.2.4", "patch"),
        ("1.2.3-beta", "1.2.4-alpha", "patch"),
        ("1.2.3", "1.2.3", None),
        ("2.0.0", "1.9.9", None),
        ("1.2.3-beta", "1.2.3", None),
        ("1.2.3-alpha", "1.2.3-beta", None),
        ("1.2.3+1", "1.2.3+2", None),
        (parse_version("0.9.0"), parse_version("0.10.0"), "minor"),
    ],
)
def test_upgrade_kind(current: str | Version, target: str | Version, kind: str | None) -> None:
    assert upgrade_kind(current, target) == kind


def test_upgrade_kind_rejects_invalid_versions() -> None:
    with pytest.raises(ValueError):
        upgrade_kind("1.2", "1.3.0")


def test_parse_range_objects() -> None:
    caret = parse_range("^1.2.3")
    assert caret.satisfied_by(parse_version("1.4.0"))
    assert not caret.satisfied_by(parse_version("2.0.0"))
    assert str(caret) == ">=1.2.3 <2.0.0-0"
    assert str(parse_range("1.x || >=2.5.0")) == ">=1.0.0 <2.0.0-0||>=2.5.0"
    assert str(parse_range("*")) == ""
    assert satisfies(parse_version("1.2.3-beta"), ">=1.2.3-alpha")
    with pytest.raises(ValueError):
        parse_range("not a range")
    assert satisfies("1.2.3", "not a range") is False
