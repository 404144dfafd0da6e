"""Substitution on raw text: every operator, the $$ escape, quoting, errors with lines."""

import pytest

from runner.errors import SubstitutionError
from runner.pipeline.substitute import substitute

VARS = {"DRONE_TAG": "v1.4.0", "SHA": "abcdef1234567890", "EMPTY": "", "NAME": "hello world"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("${DRONE_TAG}", "v1.4.0"),
        ("${DRONE_TAG##v}", "1.4.0"),
        ("${DRONE_TAG#v1.}", "4.0"),
        ("${DRONE_TAG%.*}", "v1.4"),
        ("${DRONE_TAG%%.*}", "v1"),
        ("${SHA:0:7}", "abcdef1"),
        ("${SHA:10}", "567890"),
        ("${SHA:-4}", "abcdef1234567890"),  # ":-" is the default, not a negative offset
        ("${SHA: -4}", "abcdef1234567890"),  # envsubst: " -4" is no integer, the value stays
        ("${SHA:-4:2}", "abcdef1234567890"),
        ("${NAME^}", "Hello world"),
        ("${NAME^^}", "HELLO WORLD"),
        ("${NAME,}", "hello world"),
        ("${NAME,,}", "hello world"),
        ("${MISSING=v1.0.0}", "v1.0.0"),
        ("${EMPTY=v1.0.0}", "v1.0.0"),  # envsubst: "=" also replaces an empty value
        ("${EMPTY:=fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${DRONE_TAG:-fallback}", "v1.4.0"),
        ("${NAME/o/0}", "hell0 world"),
        ("${NAME//o/0}", "hell0 w0rld"),
        ("${#SHA}", "16"),
        ("${MISSING}", ""),
        ("$${DRONE_TAG}", "${DRONE_TAG}"),
        ("$$HOME and $HOME", "$HOME and $HOME"),
        ("${MISSING:-${DRONE_TAG}}", "v1.4.0"),
    ],
)
def test_operators(text, expected):
    assert substitute(text, VARS) == expected


def test_value_with_newline_is_quoted_so_yaml_stays_valid():
    assert substitute("msg: ${M}", {"M": 'line one\nline "two"'}) == (
        'msg: "line one\\nline \\"two\\""'
    )


@pytest.mark.parametrize(
    "text, line",
    [("a: 1\nb: ${UNCLOSED\n", 2), ("a: 1\n\nc: ${A!x}", 3), ("${}", 1), ("x: ${A-x}", 1)],
)
def test_invalid_expression_names_the_line(text, line):
    with pytest.raises(SubstitutionError) as info:
        substitute(text, {}, file=".drone.yml")
    assert info.value.line == line
    assert str(info.value).startswith(f".drone.yml:{line}: ")
