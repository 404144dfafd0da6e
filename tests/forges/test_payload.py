"""The bounded JSON reader of webhook bodies: its depth count is exact for any JSON (brackets
inside strings and escaped quotes do not count), NaN/Infinity, out-of-range numbers, non-UTF-8
and deep bodies are refused, and the typed fields refuse NUL, lone surrogates and git options."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import BadRequest
from runner.forges.payload import MAX_DEPTH, Commit, json_depth, load_json, validate

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ax,:'),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\a'), inner, max_size=4)
    ),
    max_leaves=30,
)


def depth_of(value) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=500, deadline=None)
@given(json_values, st.booleans())
def test_depth_is_exact_for_any_json(value, ascii_only):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_depth(raw) == depth_of(value)


def test_depth_stops_counting_past_the_bound():
    assert json_depth(b"[" * 10_000 + b"]" * 10_000) == MAX_DEPTH + 1
    with pytest.raises(BadRequest, match=f"deeper than {MAX_DEPTH}"):
        load_json(b'{"a": ' + b"[" * 65 + b"]" * 65 + b"}", "github")
    assert load_json(b'{"a": ' + b"[" * 63 + b"]" * 63 + b"}", "github")


@pytest.mark.parametrize(
    "raw, words",
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": -Infinity}', "-Infinity"),
        (b'{"a": 1e400}', "out of range"),
        (b'{"a": ' + b"1" * 41 + b"}", "41 digits"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b"[1]", "must be a JSON object"),
    ],
)
def test_hostile_json_is_refused_with_the_reason(raw, words):
    with pytest.raises(BadRequest, match=words):
        load_json(raw, "github")


@pytest.mark.parametrize(
    "data, words",
    [
        ({"id": "-x"}, "hex sha"),
        ({"message": "a\x00b"}, "NUL"),
        ({"message": "\ud800"}, "lone surrogate"),
        ({"added": "a.py"}, "valid list"),
        ({"author": "me"}, "valid dictionary"),
        ({"message": 7}, "valid string"),
    ],
)
def test_typed_fields_name_what_is_wrong(data, words):
    with pytest.raises(BadRequest, match=words):
        validate(Commit, data, "GitHub push")


def test_null_reads_as_empty_and_unknown_fields_are_ignored():
    commit = validate(Commit, {"id": None, "added": None, "new_field": {"x": 1}}, "GitHub push")
    assert commit.id == "" and commit.added == []
