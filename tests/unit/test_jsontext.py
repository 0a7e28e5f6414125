"""The fast JSON path reads what ``json`` reads, and refuses what it refuses."""

from __future__ import annotations

import json
import math

import pytest

from otel_label_studio.reading.jsontext import loads


@pytest.mark.parametrize(
    "text",
    [
        '[{"role": "user", "parts": [{"type": "text", "content": "caf\\u00e9 😀"}]}]',
        ' {"a": 1, "a": 2} ',
        '"\\ud800"',  # a lone surrogate: orjson refuses it, json reads it
        "[1e400]",  # infinity
        "12345678901234567890",  # the largest integers orjson keeps exact: up to 64 unsigned bits
    ],
)
def test_reads_what_json_reads(text):
    assert loads(text) == json.loads(text)


def test_the_documented_difference_an_integer_beyond_64_bits_is_a_float():
    assert loads("123456789012345678901234567890") == pytest.approx(1.2345678901234568e29)


def test_nan_takes_the_standard_path():
    assert math.isnan(loads("NaN"))


@pytest.mark.parametrize("text", ["", "[1,]", '{"a": ', "\ufeff[1]", "[1] trailing"])
def test_refuses_what_json_refuses(text):
    with pytest.raises(ValueError):
        loads(text)
    with pytest.raises(ValueError):
        json.loads(text)
