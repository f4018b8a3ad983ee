"""Parsing request JSON that is safe to keep: refuses (ValueError) what would fail later.

Nesting past the recursion limit would be a 500 wherever the value is walked; lone UTF-16
surrogates ("\\ud800") decode in Python but SQLite cannot store them, and PostgreSQL cannot store
NUL ("\\u0000") in text (a 500, and a device buffer whose flush could never succeed). Python also
reads NaN, Infinity and numbers past a double's range (1e999) as non-finite floats, which JSON cannot
hold: kept, they would be written back out as invalid JSON."""
from __future__ import annotations

import json
import math


def loads(text, **kwargs):
    try:
        data = json.loads(text, **kwargs)
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError("the JSON contains a number that is not finite (NaN, Infinity or out of range)")
        elif isinstance(value, str):
            if "\x00" in value:
                raise ValueError("the JSON contains a NUL character")
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError("the JSON contains a lone UTF-16 surrogate") from None
    return data
