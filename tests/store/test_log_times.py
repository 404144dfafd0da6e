"""Each stored log line has a time since its step started (its chunk's ``elapsed_ms``): the
tail and line ranges give it as ``(line, ms)`` marks that keep line numbers exact, search per
matching line; chunks stored before the time existed (a database from revision 0005) read
back with no time (None), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from runner.errors import BadRequest
from runner.logtext import MAX_ELAPSED_MS
from runner.store import Database
from runner.store.logs import elapsed_since
from runner.store.logtail import time_marks

from .helpers import make_build
from .old_revisions import KINDS, database_url, step_at_revision, upgraded


@pytest.fixture
def step_id(stores, repo):
    return stores.builds.create(make_build(repo.id)).stages[0].steps[1].id


def _fill(stores, step_id):
    stores.logs.append(step_id, 0, b"a1\na2\n", elapsed_ms=100)
    stores.logs.append(step_id, 1, b"b1\n", elapsed_ms=3100)
    stores.logs.append(step_id, 2, b"c1\nc2\nc3\n", elapsed_ms=3100)  # the same time again
    stores.logs.append(step_id, 3, b"d1\n", elapsed_ms=65_000)


def test_the_tail_marks_where_each_time_starts(stores, step_id):
    _fill(stores, step_id)
    tail = stores.logs.tail(step_id, max_bytes=1 << 20, max_lines=100)
    assert tail.lines == ["a1", "a2", "b1", "c1", "c2", "c3", "d1"]
    assert tail.times == [(1, 100), (3, 3100), (7, 65_000)]


def test_a_tail_cut_by_its_line_limit_starts_its_marks_at_its_first_line(stores, step_id):
    _fill(stores, step_id)
    tail = stores.logs.tail(step_id, max_bytes=1 << 20, max_lines=3)
    assert (tail.first_line, tail.lines) == (5, ["c2", "c3", "d1"])
    assert tail.times == [(5, 3100), (7, 65_000)]


def test_a_tail_read_in_part_keeps_its_chunks_time(stores, step_id):
    stores.logs.append(step_id, 0, b"old\n", elapsed_ms=5)
    stores.logs.append(step_id, 1, b"x" * 100 + b"\nlast\n", elapsed_ms=42)
    tail = stores.logs.tail(step_id, max_bytes=20, max_lines=100)
    assert tail.lines == ["last"] and tail.first_line == 3
    assert tail.times == [(3, 42)]


def test_a_range_of_lines_has_marks_from_its_first_line(stores, step_id):
    _fill(stores, step_id)
    got = stores.logs.lines(step_id, 2, 4, max_chars=10_000)
    assert got.lines == ["a2", "b1", "c1", "c2"]
    assert got.times == [(2, 100), (3, 3100)]


def test_search_gives_each_matching_lines_time(stores, step_id):
    _fill(stores, step_id)
    found = stores.logs.search(step_id, "1", limit=10, max_bytes=1 << 20)
    assert [(m.line, m.elapsed_ms) for m in found.matches] == [
        (1, 100),
        (3, 3100),
        (4, 3100),
        (7, 65_000),
    ]


def test_timed_pages_give_each_chunks_time(stores, step_id):
    _fill(stores, step_id)
    stores.logs.append(step_id, 4, b"untimed\n")
    assert [(seq, ms) for seq, _data, ms in stores.logs.iter_timed(step_id, 1)] == [
        (2, 3100),
        (3, 65_000),
        (4, None),
    ]
    assert [seq for seq, _data in stores.logs.iter_chunks(step_id)] == [0, 1, 2, 3, 4]


def test_a_time_out_of_range_is_refused(stores, step_id):
    for bad in (-1, MAX_ELAPSED_MS + 1):
        with pytest.raises(BadRequest, match="time"):
            stores.logs.append(step_id, 0, b"x\n", elapsed_ms=bad)
    assert list(stores.logs.iter_chunks(step_id)) == []


def test_the_server_stamp_is_now_minus_the_steps_start():
    assert elapsed_since(1000.0, now=1002.5) == 2500
    assert elapsed_since(1000.0, now=999.0) == 0  # a start ahead of the server's clock
    assert elapsed_since(0.0, now=5.0) is None  # the start is not recorded yet


def test_marks_skip_empty_chunks_and_repeated_times():
    assert time_marks(10, [(2, 5), (0, 9), (1, 5), (3, None)]) == [(10, 5), (13, None)]
    assert time_marks(1, [(2, 5), (2, 7)], skip=3) == [(4, 7)]
    assert time_marks(1, []) == []


@pytest.mark.parametrize("kind", KINDS)
def test_chunks_stored_at_revision_0005_read_back_without_a_time(kind, request, tmp_path):
    url = database_url(kind, request, tmp_path)
    step = step_at_revision(url, "0005")
    database = Database(url)
    with database.engine.connect() as conn:
        assert "elapsed_ms" not in {c["name"] for c in inspect(conn).get_columns("log_chunks")}
    # A chunk written by a server of revision 0005: its insert names no time column.
    with database.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO log_chunks (step_id, seq, data, size) VALUES (:step, 0, :data, 4)"),
            {"step": step, "data": b"old\n"},
        )
    database.dispose()

    with upgraded(url) as (_database, stores):
        stores.logs.append(step, 1, b"new\n", elapsed_ms=1500)
        tail = stores.logs.tail(step, max_bytes=1 << 20, max_lines=100)
        assert tail.lines == ["old", "new"]
        assert tail.times == [(1, None), (2, 1500)]
        found = stores.logs.search(step, "old", limit=5, max_bytes=1 << 20)
        assert found.matches[0].elapsed_ms is None
