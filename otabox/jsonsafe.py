"""Parsing request JSON that is safe to keep: refuses (ValueError) what would fail later.

Nesting past the recursion limit would be a 500 wherever the value is walked; lone UTF-16
surrogates ("\\ud800") decode in Python but SQLite cannot store them, and PostgreSQL cannot store
NUL ("\\u0000") in text (a 500, and a device buffer whose flush could never succeed). Python also
reads NaN, Infinity and numbers past a double's range (1e999) as non-finite floats, which JSON cannot
hold: kept, they would be written back out as invalid JSON.

Checked while parsing, not by walking the result (which took four fifths of the time of a large
body): numbers by the parser's hooks; a raw lone surrogate by decoding the body strictly; NUL and
escaped surrogates, which only a `\\u` escape can write (the parser refuses raw control
characters), by walking the strings only when the text holds such an escape."""
from __future__ import annotations

import json
import math
import re

NON_FINITE = "the JSON contains a number that is not finite (NaN, Infinity or out of range)"
RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
"""The escapes that can write NUL or a UTF-16 surrogate (a pair is fine, and walked to tell)."""


def _refuse_constant(name: str):
    raise ValueError(NON_FINITE)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(NON_FINITE)
    return value


def _text(raw) -> str:
    """The body as text, refusing a raw lone surrogate (json.loads would decode bytes with
    'surrogatepass')."""
    try:
        if isinstance(raw, (bytes, bytearray)):
            return raw.decode(json.detect_encoding(raw))
        if not raw.isascii():
            raw.encode("utf-8")
        return raw
    except UnicodeError:
        raise ValueError("the JSON contains a lone UTF-16 surrogate or is not valid UTF-8") from None


def loads(raw, **kwargs):
    text = _text(raw)
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, **kwargs)
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None
    if RISKY_ESCAPE.search(text):
        _check_strings(data)
    return data


def _check_strings(data) -> None:
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise ValueError("the JSON contains a NUL character")
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError("the JSON contains a lone UTF-16 surrogate") from None
