"""Log chunks are stored compressed (zlib, each chunk on its own) and read back byte for byte
by every reader: the tail, line ranges, search, pages and the raw download; line numbers come
from each chunk's stored line count. Chunks stored before compression existed (revision 0006)
are counted by the migration and read as they were, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import zlib

import pytest
from sqlalchemy import func, select, text

from runner.logtext import count_lines, split_lines
from runner.store import Database
from runner.store.logcodec import RAW, ZLIB, pack, unpack
from runner.store.models import LogChunkRow

from .helpers import make_build
from .old_revisions import KINDS, database_url, downgrade, step_at_revision, upgraded


@pytest.fixture
def step_id(stores, repo):
    return stores.builds.create(make_build(repo.id)).stages[0].steps[1].id


def _build_output(lines: int, start: int = 0) -> bytes:
    return b"".join(
        b"\x1b[32mPASS\x1b[0m tests/test_module_%d.py::test_case_%d [%3d%%]\r\n"
        % (i % 40, i, i % 100)
        for i in range(start, start + lines)
    )


def _stored_bytes(db, step_id) -> int:
    with db.session() as s:
        return int(
            s.scalar(
                select(func.sum(func.length(LogChunkRow.data))).where(
                    LogChunkRow.step_id == step_id
                )
            )
        )


def test_pack_keeps_short_and_incompressible_chunks_raw():
    assert pack(b"ok\n") == (b"ok\n", RAW)
    noise = os.urandom(4096)
    assert pack(noise) == (noise, RAW)
    blob = _build_output(200)
    stored, codec = pack(blob)
    assert codec == ZLIB and len(stored) < len(blob) // 3
    assert unpack(stored, codec, len(blob)) == blob


def test_unpack_refuses_what_does_not_inflate_to_its_size():
    blob = _build_output(50)
    stored = zlib.compress(blob)
    with pytest.raises(ValueError, match="inflates to other than"):
        unpack(stored, ZLIB, len(blob) - 1)  # never inflates past the size it was given
    with pytest.raises(ValueError, match="inflates to other than"):
        unpack(stored, ZLIB, len(blob) + 1)
    with pytest.raises(ValueError, match="unknown log chunk codec"):
        unpack(stored, 7, len(blob))


def test_count_lines_agrees_with_split_lines():
    for data in (b"", b"a", b"a\n", b"a\nb", b"\n\n", b"x\r\ny\rz\n", b"\xff\x00\n\xfe"):
        assert count_lines(data) == len(split_lines(data)), data


def test_a_build_log_is_stored_at_under_a_third_and_read_back_whole(db, stores, step_id):
    chunks = [_build_output(500, start=i * 500) for i in range(40)]
    chunks.append(b"last line without its end")
    for seq, chunk in enumerate(chunks):
        assert stores.logs.append(step_id, seq, chunk, elapsed_ms=seq * 10)
    raw = b"".join(chunks)
    assert stores.logs.size(step_id) == (len(raw), 0)  # counted as sent, not as stored
    assert _stored_bytes(db, step_id) <= len(raw) // 3

    expected = [line for chunk in chunks for line in split_lines(chunk)]
    assert b"".join(stores.logs.iter_raw(step_id)) == raw + b"\n"
    assert [data for _seq, data in stores.logs.iter_chunks(step_id)] == chunks
    tail = stores.logs.tail(step_id, max_bytes=1 << 30, max_lines=100)
    assert tail.lines == expected[-100:]
    assert (tail.first_line, tail.total_lines) == (len(expected) - 99, len(expected))
    # A budget that ends inside a compressed chunk reads only that chunk's end.
    part = stores.logs.tail(step_id, max_bytes=len(chunks[-1]) + 1000, max_lines=10_000)
    assert part.lines == expected[-len(part.lines) :] and part.total_lines == len(expected)
    assert 1 < len(part.lines) < 500
    window = stores.logs.lines(step_id, 12_345, 3, max_chars=10_000)
    assert window.lines == expected[12_344:12_347]
    found = stores.logs.search(step_id, "test_case_19999 ", limit=5, max_bytes=1 << 30)
    assert [m.line for m in found.matches] == [20_000]
    assert found.matches[0].elapsed_ms == 390  # chunk 39 holds lines 19,501 to 20,000


@pytest.mark.parametrize("kind", KINDS)
def test_chunks_stored_at_revision_0006_are_counted_and_read_back(kind, request, tmp_path):
    url = database_url(kind, request, tmp_path)
    step = step_at_revision(url, "0006")
    old = [b"one\ntwo\n", b"three", b"", b"\xff\x00four\n\n", _build_output(300)]
    database = Database(url)
    with database.engine.begin() as conn:
        for seq, data in enumerate(old):
            conn.execute(
                text(
                    "INSERT INTO log_chunks (step_id, seq, data, size, elapsed_ms)"
                    " VALUES (:step, :seq, :data, :size, 5)"
                ),
                {"step": step, "seq": seq, "data": data, "size": len(data)},
            )
    database.dispose()

    with upgraded(url) as (database, stores):
        with database.session() as s:
            counted = s.execute(
                select(LogChunkRow.lines, LogChunkRow.codec)
                .where(LogChunkRow.step_id == step)
                .order_by(LogChunkRow.seq)
            ).all()
        assert counted == [(2, RAW), (1, RAW), (0, RAW), (2, RAW), (300, RAW)]
        stores.logs.append(step, len(old), _build_output(300, start=300))
        expected = [line for chunk in old for line in split_lines(chunk)]
        expected += split_lines(_build_output(300, start=300))
        tail = stores.logs.tail(step, max_bytes=1 << 20, max_lines=10)
        assert tail.lines == expected[-10:] and tail.total_lines == len(expected) == 605
        assert stores.logs.lines(step, 4, 2, max_chars=1000).lines == ["\ufffd\x00four", ""]
        assert stores.logs.search(step, "three", limit=5, max_bytes=1 << 20).matches[0].line == 3

    # Going back to 0006 inflates the compressed chunks: that schema reads them as stored.
    downgrade(url, "0006")
    back = Database(url)
    with back.engine.begin() as conn:
        data = conn.execute(
            text("SELECT data FROM log_chunks WHERE step_id = :step AND seq = :seq"),
            {"step": step, "seq": len(old)},
        ).scalar_one()
    back.dispose()
    assert bytes(data) == _build_output(300, start=300)
