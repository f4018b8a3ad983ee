"""Request JSON is refused when it holds what would fail later (NaN or out-of-range numbers, NUL,
lone surrogates, nesting past the recursion limit), whether the body comes as bytes or text and
wherever the value sits (a key, a value, a list), and kept as json.loads reads it otherwise."""
from __future__ import annotations

import json

import pytest

from otabox import jsonsafe

REFUSED = [b'{"a": NaN}', b'[Infinity]', b'{"a": [-Infinity]}', b'{"a": 1e999}', b'[-1e999]',
           b'{"a": "x\\u0000y"}', b'{"a\\u0000": 1}', b'[["\\u0000"]]', b'{"a": "\\ud800"}', b'["\\udfff x"]',
           b'{"\\uDBFF": 1}', b'{"a": "\xed\xa0\x80"}', b'[' * 100_000 + b']' * 100_000]
KEPT = [b'{"a": 1.5, "b": -2e300, "c": [1, "x", null, true]}', b'{"smile": "\\ud83d\\ude00"}',
        b'{"text": "a literal \\\\u0000, not a NUL"}', '{"caf\u00e9": "cr\u00e8me"}'.encode(),
        '\ufeff{"bom": 1}'.encode("utf-8"), '{"wide": "\u00e9"}'.encode("utf-16"), b'"\\u00e9"']


@pytest.mark.parametrize("raw", REFUSED, ids=lambda raw: repr(raw[:30]))
def test_what_would_fail_later_is_refused_as_bytes_and_as_text(raw):
    with pytest.raises(ValueError):
        jsonsafe.loads(raw)
    if raw.isascii():
        with pytest.raises(ValueError):
            jsonsafe.loads(raw.decode())


def test_a_raw_lone_surrogate_in_text_is_refused():
    with pytest.raises(ValueError):
        jsonsafe.loads('{"a": "\ud800"}')


@pytest.mark.parametrize("raw", KEPT, ids=lambda raw: repr(raw[:30]))
def test_everything_else_reads_as_json_loads_reads_it(raw):
    assert jsonsafe.loads(raw) == json.loads(raw)
