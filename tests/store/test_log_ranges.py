"""Line ranges and search over a whole stored log, on SQLite and PostgreSQL: numbers agree with
the tail's for every kind of line ending and chunk boundary, answers stay within their
budgets, and a search pass resumes where the last one stopped."""

from __future__ import annotations

import pytest

from .helpers import make_build

BLOBS = [
    b"one\ntwo\r\nthree\rTHREE\n",
    b"no end here",  # a chunk ends its last line
    b"",
    b"\n",
    "vt\x0bff\x0cnel\u0085ls\u2028end\n".encode(),  # only \n ends a line
    b"\x1b[31mred\x1b[0m needle\n\xff\xfe bad bytes\n",
    b"".join(f"row {i}\n".encode() for i in range(1, 301)),
]


@pytest.fixture
def step_id(stores, repo):
    step = stores.builds.create(make_build(repo.id)).stages[0].steps[1].id
    for seq, blob in enumerate(BLOBS):
        stores.logs.append(step, seq, blob)
    return step


def test_every_range_agrees_with_the_tail(stores, step_id):
    tail = stores.logs.tail(step_id, max_bytes=1 << 20, max_lines=10_000)
    assert tail.first_line == 1 and len(tail.lines) == 308
    assert tail.lines[:8] == [
        "one",
        "two",
        "THREE",
        "no end here",
        "",
        "vt\x0bff\x0cnel\u0085ls\u2028end",
        "\x1b[31mred\x1b[0m needle",
        "\ufffd\ufffd bad bytes",
    ]
    for first in (1, 2, 4, 5, 7, 8, 9, 150, 308):
        got = stores.logs.lines(step_id, first, 5, max_chars=1 << 20)
        assert got.first_line == first
        assert got.lines == tail.lines[first - 1 : first + 4]
        assert got.more == (first + 4 < 308)
    assert stores.logs.lines(step_id, 309, 5, max_chars=1 << 20).lines == []


def test_a_range_stops_at_its_character_budget_cutting_the_line_that_reaches_it(stores, step_id):
    got = stores.logs.lines(step_id, 10, 100, max_chars=18)  # row 1 is line 9
    assert got.lines == ["row 2", "row 3", "row 4", "row\u2026"]
    assert (got.cut, got.more) == ([13], True)


def test_search_ignores_case_and_escapes_and_numbers_like_the_tail(stores, step_id):
    found = stores.logs.search(step_id, "RED NEEDLE", limit=10, max_bytes=1 << 20)
    assert [(m.line, m.text) for m in found.matches] == [(7, "red needle")]
    assert (found.count, found.scanned_to, found.complete) == (1, 308, True)
    assert stores.logs.search(step_id, "three", limit=10, max_bytes=1 << 20).count == 1


def test_search_lists_up_to_its_limit_and_counts_the_rest(stores, step_id):
    found = stores.logs.search(step_id, "row 2", after=0, limit=3, max_bytes=1 << 20)
    assert [m.line for m in found.matches] == [10, 28, 29]  # row 2, row 20, row 21
    assert found.count == 1 + 10 + 100
    later = stores.logs.search(step_id, "row 2", after=29, limit=1, max_bytes=1 << 20)
    assert [m.line for m in later.matches] == [30] and later.count == 111 - 3


def test_a_search_pass_ends_at_the_chunk_that_reaches_its_budget(stores, step_id):
    first = stores.logs.search(step_id, "row", limit=500, max_bytes=1)
    assert (first.count, first.scanned_to, first.complete) == (0, 3, False)
    after, count, passes = 0, 0, 0
    while True:
        found = stores.logs.search(step_id, "row", after=after, limit=500, max_bytes=1)
        count += found.count
        passes += 1
        if found.complete:
            break
        after = found.scanned_to
    assert (count, passes) == (300, len(BLOBS) - 1)  # the empty chunk holds no line
