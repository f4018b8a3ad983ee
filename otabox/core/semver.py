"""Semantic versions and version ranges, matching node-semver 7.x.

CodePush clients send their native app version and releases carry a
``targetVersions`` range such as ``^1.2.0`` or ``1.x || >=2.5.0``; the
reference server decides with ``semver.satisfies``.  Users write ranges for
that behaviour, so this module reproduces node-semver's default (strict, no
``includePrerelease``) semantics rather than a cleaner reading of the spec:
ranges are desugared into comparator sets by the same sequence of textual
rewrites node-semver performs, including its quirks (``"1.2.3 - 2"`` becomes
``>=1.2.3 <3.0.0-0``, a lone ``*`` in a ``||`` union swallows the whole range,
a prerelease only matches a comparator on the same ``major.minor.patch``).

Whitespace and digits follow JavaScript rules (ASCII digits only; the
ECMAScript whitespace set for trimming and splitting).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache, total_ordering
from typing import Literal

MAX_VERSION_LENGTH = 256
MAX_SAFE_INTEGER = 2**53 - 1

# ECMAScript WhiteSpace + LineTerminator: what String.prototype.trim and \s use.
_JS_SPACE_CHARS = (
    "\t\n\x0b\x0c\r \xa0\u1680"
    + "".join(chr(code) for code in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_WS_CHARS = re.escape(_JS_SPACE_CHARS)
_WS = f"[{_WS_CHARS}]"
_WS_RUN = re.compile(_WS + "+")


def _js_trim(text: str) -> str:
    return text.strip(_JS_SPACE_CHARS)


def _js_split_ws(text: str) -> list[str]:
    return _WS_RUN.split(text)


# Grammar pieces.  Repetition bounds mirror node-semver's ReDoS-safe regexes;
# they only matter for identifiers far longer than any valid version.
_NUM = r"0|[1-9][0-9]{0,256}"
_NUM_LOOSE = r"[0-9]{1,256}"
_NON_NUM = r"[0-9]{0,256}[a-zA-Z-][a-zA-Z0-9-]{0,250}"
_PRE_ID = f"(?:{_NUM}|{_NON_NUM})"
_PRE_ID_LOOSE = f"(?:{_NUM_LOOSE}|{_NON_NUM})"
_PRERELEASE = rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))"
_PRERELEASE_LOOSE = rf"(?:-?({_PRE_ID_LOOSE}(?:\.{_PRE_ID_LOOSE})*))"
_BUILD_ID = r"[a-zA-Z0-9-]{1,250}"
_BUILD = rf"(?:\+({_BUILD_ID}(?:\.{_BUILD_ID})*))"
_VERSION_PLAIN = rf"v?({_NUM})\.({_NUM})\.({_NUM}){_PRERELEASE}?{_BUILD}?"
_VERSION_LOOSE_PLAIN = (
    rf"[v={_WS_CHARS}]*({_NUM_LOOSE})\.({_NUM_LOOSE})\.({_NUM_LOOSE})"
    rf"{_PRERELEASE_LOOSE}?{_BUILD}?"
)
_OPERATOR = r"((?:<|>)?=?)"
_X_ID = r"0|[1-9][0-9]{0,256}|x|X|\*"
_PARTIAL = (
    rf"[v={_WS_CHARS}]*({_X_ID})"
    rf"(?:\.({_X_ID})(?:\.({_X_ID})(?:{_PRERELEASE})?{_BUILD}?)?)?"
)

_VERSION_RE = re.compile(rf"^{_VERSION_PLAIN}\Z")
_COMPARATOR_RE = re.compile(rf"^{_OPERATOR}{_WS}?({_VERSION_PLAIN})\Z|^\Z")
_HYPHEN_RE = re.compile(rf"^{_WS}?({_PARTIAL}){_WS}-{_WS}({_PARTIAL}){_WS}?\Z")
_OPERATOR_GAP_RE = re.compile(
    rf"({_WS}?){_OPERATOR}{_WS}?({_VERSION_LOOSE_PLAIN}|{_PARTIAL})"
)
_TILDE_GAP_RE = re.compile(rf"({_WS}?)(?:~>?){_WS}")
_CARET_GAP_RE = re.compile(rf"({_WS}?)\^{_WS}")
_TILDE_RE = re.compile(rf"^(?:~>?){_PARTIAL}\Z")
_CARET_RE = re.compile(rf"^\^{_PARTIAL}\Z")
_X_RANGE_RE = re.compile(rf"^{_OPERATOR}{_WS}?{_PARTIAL}\Z")
_STAR_RE = re.compile(rf"(<|>)?=?{_WS}?\*")
_GTE_ZERO_RE = re.compile(rf"^{_WS}?>={_WS}?0\.0\.0{_WS}?\Z")
_DIGITS_RE = re.compile(r"^[0-9]+\Z")

_NULL_SET = "<0.0.0-0"

Identifier = int | str


@total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A parsed semantic version.

    Ordering and equality follow semver 2.0 precedence, so build metadata is
    ignored (``1.0.0+a == 1.0.0+b``).  Prerelease identifiers made only of
    digits are ints when below 2**53-1, as node-semver stores them.
    ``str()`` gives the canonical text including build metadata; ``core``
    gives the form without it (node-semver's ``.version``).
    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[Identifier, ...] = ()
    build: tuple[str, ...] = ()

    @property
    def core(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(part) for part in self.prerelease)
        return text

    def __str__(self) -> str:
        if self.build:
            return self.core + "+" + ".".join(self.build)
        return self.core

    def compare(self, other: Version) -> int:
        """-1, 0 or 1 by semver precedence."""
        mine = (self.major, self.minor, self.patch)
        theirs = (other.major, other.minor, other.patch)
        if mine != theirs:
            return -1 if mine < theirs else 1
        return _compare_prereleases(self.prerelease, other.prerelease)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.compare(other) == 0

    def __lt__(self, other: Version) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.compare(other) < 0

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.prerelease))


def _compare_prereleases(left: tuple[Identifier, ...], right: tuple[Identifier, ...]) -> int:
    if not left or not right:
        # A release outranks any prerelease of the same major.minor.patch.
        return (not left) - (not right)
    for a, b in zip(left, right):
        order = _compare_identifiers(a, b)
        if order:
            return order
    return (len(left) > len(right)) - (len(left) < len(right))


def _compare_identifiers(a: Identifier, b: Identifier) -> int:
    a_numeric = isinstance(a, int) or bool(_DIGITS_RE.match(a))
    b_numeric = isinstance(b, int) or bool(_DIGITS_RE.match(b))
    if a_numeric and b_numeric:
        a, b = int(a), int(b)
    elif a_numeric != b_numeric:
        return -1 if a_numeric else 1
    return (a > b) - (a < b)


def _to_identifier(text: str) -> Identifier:
    if _DIGITS_RE.match(text) and int(text) < MAX_SAFE_INTEGER:
        return int(text)
    return text


def parse_version(text: str) -> Version:
    """Parse a strict semver string exactly as ``new SemVer(text)`` does.

    Surrounding whitespace and one leading ``v`` are accepted; ``=`` is not
    (node-semver only strips it in loose mode or inside ranges).  Raises
    ValueError for anything else, including numbers above 2**53-1 and texts
    longer than 256 characters.
    """
    if not isinstance(text, str):
        raise ValueError(f"version must be a string, got {type(text).__name__}")
    if len(text) > MAX_VERSION_LENGTH:
        raise ValueError(f"version is longer than {MAX_VERSION_LENGTH} characters")
    match = _VERSION_RE.match(_js_trim(text))
    if not match:
        raise ValueError(f"invalid version: {text!r}")
    major, minor, patch = (int(match.group(i)) for i in (1, 2, 3))
    if max(major, minor, patch) > MAX_SAFE_INTEGER:
        raise ValueError(f"version number too large: {text!r}")
    prerelease = match.group(4)
    build = match.group(5)
    return Version(
        major,
        minor,
        patch,
        tuple(_to_identifier(part) for part in prerelease.split(".")) if prerelease else (),
        tuple(build.split(".")) if build else (),
    )


_MISSING_PATCH_RE = re.compile(r"^[0-9]+\.[0-9]+([+-][^\n\r\u2028\u2029]*)?\Z")


def coerce_app_version(text: str) -> Version:
    """Parse a native app version the way the CodePush server accepts it.

    ``"1"`` means 1.0.0 and ``"2.0"`` (also ``"2.0-beta"``, ``"2.0+7"``)
    gains a ``.0`` patch; everything else must be a valid semver string.
    Raises ValueError otherwise (``"abc"``, ``""``, ``"1.2.3.4"``).
    """
    if not isinstance(text, str):
        raise ValueError(f"app version must be a string, got {type(text).__name__}")
    if _DIGITS_RE.match(text):
        return parse_version(text + ".0.0")
    missing_patch = _MISSING_PATCH_RE.match(text)
    if missing_patch:
        tag_start = missing_patch.start(1) if missing_patch.group(1) else len(text)
        text = text[:tag_start] + ".0" + text[tag_start:]
    return parse_version(text)


@dataclass(frozen=True)
class Comparator:
    """One ``<op><version>`` test; ``version`` None means "any version"."""

    operator: Literal["", "<", "<=", ">", ">="]
    version: Version | None

    @property
    def value(self) -> str:
        return "" if self.version is None else self.operator + self.version.core

    def test(self, candidate: Version) -> bool:
        if self.version is None:
            return True
        order = candidate.compare(self.version)
        match self.operator:
            case "":
                return order == 0
            case ">":
                return order > 0
            case ">=":
                return order >= 0
            case "<":
                return order < 0
            case _:
                return order <= 0


@dataclass(frozen=True)
class Range:
    """A union (``||``) of comparator sets, each an intersection."""

    sets: tuple[tuple[Comparator, ...], ...]

    def satisfied_by(self, version: Version) -> bool:
        return any(_set_allows(comparators, version) for comparators in self.sets)

    def __str__(self) -> str:
        """The desugared form, as node-semver's ``validRange`` prints it."""
        return "||".join(" ".join(c.value for c in comparators) for comparators in self.sets)


def _set_allows(comparators: tuple[Comparator, ...], version: Version) -> bool:
    if not all(comparator.test(version) for comparator in comparators):
        return False
    if not version.prerelease:
        return True
    # Prereleases are opt-in per release line: only a comparator that itself
    # names a prerelease of the same major.minor.patch lets one through.
    core = (version.major, version.minor, version.patch)
    return any(
        c.version is not None
        and c.version.prerelease
        and (c.version.major, c.version.minor, c.version.patch) == core
        for c in comparators
    )


def parse_range(text: str) -> Range:
    """Parse a node-semver range; raises ValueError if node-semver would throw.

    ``""`` and ``"*"`` match every release version.
    """
    if not isinstance(text, str):
        raise ValueError(f"range must be a string, got {type(text).__name__}")
    return _parse_range_text(text)


@lru_cache(maxsize=2048)
def _parse_range_text(text: str) -> Range:
    normalized = _WS_RUN.sub(" ", _js_trim(text))
    sets = [_parse_set(_js_trim(part)) for part in normalized.split("||")]
    if len(sets) > 1:
        first = sets[0]
        sets = [s for s in sets if s[0].value != _NULL_SET] or [first]
        match_anything = [s for s in sets if len(s) == 1 and s[0].version is None]
        if len(sets) > 1 and match_anything:
            sets = match_anything[:1]
    return Range(tuple(sets))


def _parse_set(text: str) -> tuple[Comparator, ...]:
    text = _HYPHEN_RE.sub(_desugar_hyphen, text, count=1)
    text = _OPERATOR_GAP_RE.sub(r"\1\2\3", text)
    text = _TILDE_GAP_RE.sub(r"\1~", text)
    text = _CARET_GAP_RE.sub(r"\1^", text)
    desugared = " ".join(_desugar_word(word) for word in text.split(" "))
    words = [_GTE_ZERO_RE.sub("", _js_trim(word), count=1) for word in _js_split_ws(desugared)]
    comparators = [_parse_comparator(word) for word in words]
    unique: dict[str, Comparator] = {}
    for comparator in comparators:
        if comparator.value == _NULL_SET:
            return (comparator,)
        unique[comparator.value] = comparator
    if len(unique) > 1:
        unique.pop("", None)
    return tuple(unique.values())


def _parse_comparator(text: str) -> Comparator:
    text = " ".join(_js_split_ws(_js_trim(text)))
    match = _COMPARATOR_RE.match(text)
    if not match:
        raise ValueError(f"invalid comparator: {text!r}")
    if not match.group(2):
        return Comparator("", None)
    operator = match.group(1)
    return Comparator("" if operator == "=" else operator, parse_version(match.group(2)))


def _is_x(part: str | None) -> bool:
    return not part or part in ("x", "X", "*")


def _desugar_word(word: str) -> str:
    """Rewrite one whitespace-free range word into plain comparators."""
    word = " ".join(_CARET_RE.sub(_desugar_caret, w, count=1) for w in _js_split_ws(_js_trim(word)))
    word = " ".join(_TILDE_RE.sub(_desugar_tilde, w, count=1) for w in _js_split_ws(_js_trim(word)))
    word = " ".join(_X_RANGE_RE.sub(_desugar_x_range, _js_trim(w), count=1) for w in _js_split_ws(word))
    return _STAR_RE.sub("", _js_trim(word), count=1)


def _desugar_caret(match: re.Match[str]) -> str:
    major, minor, patch, pre = match.group(1, 2, 3, 4)
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0 <{int(major) + 1}.0.0-0"
    if _is_x(patch):
        if major == "0":
            return f">={major}.{minor}.0 <{major}.{int(minor) + 1}.0-0"
        return f">={major}.{minor}.0 <{int(major) + 1}.0.0-0"
    lower = f">={major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    if major != "0":
        return f"{lower} <{int(major) + 1}.0.0-0"
    if minor != "0":
        return f"{lower} <{major}.{int(minor) + 1}.0-0"
    return f"{lower} <{major}.{minor}.{int(patch) + 1}-0"


def _desugar_tilde(match: re.Match[str]) -> str:
    major, minor, patch, pre = match.group(1, 2, 3, 4)
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0 <{int(major) + 1}.0.0-0"
    if _is_x(patch):
        return f">={major}.{minor}.0 <{major}.{int(minor) + 1}.0-0"
    lower = f">={major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    return f"{lower} <{major}.{int(minor) + 1}.0-0"


def _desugar_x_range(match: re.Match[str]) -> str:
    operator, major, minor, patch = match.group(1, 2, 3, 4)
    x_major = _is_x(major)
    x_minor = x_major or _is_x(minor)
    x_patch = x_minor or _is_x(patch)
    if operator == "=" and x_patch:
        operator = ""
    if x_major:
        return _NULL_SET if operator in ("<", ">") else "*"
    if operator and x_patch:
        numbers = [int(major), 0 if x_minor else int(minor), 0]
        bump = 0 if x_minor else 1
        if operator == ">":
            operator = ">="
            numbers[bump] += 1
            numbers[bump + 1 :] = [0] * (2 - bump)
        elif operator == "<=":
            operator = "<"
            numbers[bump] += 1
        suffix = "-0" if operator == "<" else ""
        return operator + ".".join(str(n) for n in numbers) + suffix
    if x_minor:
        return f">={major}.0.0 <{int(major) + 1}.0.0-0"
    if x_patch:
        return f">={major}.{minor}.0 <{major}.{int(minor) + 1}.0-0"
    return match.group(0)


def _desugar_hyphen(match: re.Match[str]) -> str:
    low, low_major, low_minor, low_patch = match.group(1, 2, 3, 4)
    high, high_major, high_minor, high_patch, high_pre = match.group(7, 8, 9, 10, 11)
    if _is_x(low_major):
        lower = ""
    elif _is_x(low_minor):
        lower = f">={low_major}.0.0"
    elif _is_x(low_patch):
        lower = f">={low_major}.{low_minor}.0"
    else:
        lower = f">={low}"
    if _is_x(high_major):
        upper = ""
    elif _is_x(high_minor):
        upper = f"<{int(high_major) + 1}.0.0-0"
    elif _is_x(high_patch):
        upper = f"<{high_major}.{int(high_minor) + 1}.0-0"
    elif high_pre:
        upper = f"<={high_major}.{high_minor}.{high_patch}-{high_pre}"
    else:
        upper = f"<={high}"
    return _js_trim(f"{lower} {upper}")


def is_valid_range(text: str) -> bool:
    try:
        parse_range(text)
    except ValueError:
        return False
    return True


def satisfies(version: str | Version, range_text: str) -> bool:
    """``semver.satisfies(version, range)`` with default options.

    An invalid version or an invalid range gives False, never an exception.
    """
    try:
        parsed_range = parse_range(range_text)
    except ValueError:
        return False
    if not isinstance(version, Version):
        if not version:
            return False
        try:
            version = parse_version(version)
        except ValueError:
            return False
    return parsed_range.satisfied_by(version)


UpgradeKind = Literal["major", "minor", "patch"]


def upgrade_kind(current: str | Version, target: str | Version) -> UpgradeKind | None:
    """The highest semver boundary crossed when moving from current to target.

    - None if target does not outrank current (equal, older, or only build
      metadata differs);
    - "major" / "minor" / "patch" for the first of major, minor, patch that
      differs (so 1.9.9 -> 2.0.0-beta is "major", 1.2.3 -> 1.3.0 is "minor");
    - None when both share major.minor.patch and only the prerelease moves
      forward (1.2.3-beta -> 1.2.3-rc, 1.2.3-rc -> 1.2.3): the release line
      is the same, so no boundary is crossed.

    Strings are parsed with parse_version; invalid ones raise ValueError.
    This is what Capgo-style "block upgrades" policies need: refuse a bundle
    when upgrade_kind(native, bundle) is at or above the blocked level.
    """
    current = current if isinstance(current, Version) else parse_version(current)
    target = target if isinstance(target, Version) else parse_version(target)
    if target <= current:
        return None
    if target.major != current.major:
        return "major"
    if target.minor != current.minor:
        return "minor"
    if target.patch != current.patch:
        return "patch"
    return None
