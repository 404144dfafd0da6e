"""The build list's filters as the API and the pages read them (runner.services.build_filters):
a branch exactly or a prefix ending in *, a pull request number with or without #, select-box
values outside their choices ignored, and every bad value a 400 naming the filter."""

from __future__ import annotations

import pytest

from runner.errors import BadRequest
from runner.services.build_filters import BuildFilter, branch_filter, from_query


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("main", ("main", None)),
        (" feature/x ", ("feature/x", None)),
        ("release/*", (None, "release/")),
        ("release/**", (None, "release/")),
        ("*", (None, None)),
        ("", (None, None)),
    ],
)
def test_a_branch_filter_is_exact_or_a_prefix(text, expected):
    assert branch_filter(text) == expected


@pytest.mark.parametrize(
    "query",
    [
        {"branch": "re*lease"},
        {"branch": "*main"},
        {"branch": "b" * 301},
        {"pull_request": "seven"},
        {"pull_request": "0"},
        {"pull_request": "-3"},
        {"pull_request": "99999999999999999999"},
    ],
)
def test_a_bad_filter_is_a_400_naming_it(query):
    with pytest.raises(BadRequest) as caught:
        from_query(query)
    assert next(iter(query)) in str(caught.value)


def test_the_pages_ignore_choices_their_select_boxes_do_not_offer():
    chosen = from_query(
        {"status": "bogus", "event": "push", "pull_request": "#42"},
        statuses=("success",),
        events=("push",),
    )
    assert chosen == BuildFilter(event="push", pull_request=42)
    assert chosen.store_args() == {
        "branch": None,
        "branch_prefix": None,
        "status": None,
        "event": "push",
        "pull_request": 42,
    }
    # The API passes values as they are: an unknown status matches no build.
    assert from_query({"status": "bogus"}).status == "bogus"
