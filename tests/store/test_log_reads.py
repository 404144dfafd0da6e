"""Reading logs within a byte budget: pages and the tail never load more than their bound, and
the tail's line numbers stay exact however long the lines or the log."""

from __future__ import annotations

import pytest

from .helpers import make_build

KIB = 1024


@pytest.fixture
def step_id(stores, repo):
    return stores.builds.create(make_build(repo.id)).stages[0].steps[1].id


def _reference_lines(blobs: list[bytes]) -> list[str]:
    """Lines as the stream shows them: each chunk split on its own."""
    return [line for blob in blobs for line in blob.decode().splitlines()]


def test_tail_of_a_small_log_is_the_whole_log_numbered_from_one(stores, step_id):
    stores.logs.append(step_id, 0, b"one\ntwo\n")
    stores.logs.append(step_id, 1, b"three")  # a chunk ends its last line
    stores.logs.append(step_id, 2, b"four\n")
    tail = stores.logs.tail(step_id, max_bytes=KIB, max_lines=100)
    assert tail.lines == ["one", "two", "three", "four"]
    assert (tail.first_line, tail.total_lines, tail.last_seq) == (1, 4, 2)
    assert not tail.truncated


def test_tail_of_no_log_is_empty(stores, step_id):
    tail = stores.logs.tail(step_id, max_bytes=KIB, max_lines=100)
    assert (tail.lines, tail.first_line, tail.total_lines, tail.last_seq) == ([], 1, 0, None)


def test_tail_keeps_the_line_bound_and_counts_the_lines_before(stores, step_id):
    blobs = [b"".join(f"{seq}-{i}\n".encode() for i in range(100)) for seq in range(50)]
    for seq, blob in enumerate(blobs):
        stores.logs.append(step_id, seq, blob)
    tail = stores.logs.tail(step_id, max_bytes=10 * 1024 * KIB, max_lines=250)
    expected = _reference_lines(blobs)
    assert tail.lines == expected[-250:]
    assert (tail.first_line, tail.total_lines) == (len(expected) - 249, len(expected))


@pytest.mark.parametrize("budget", [1, 100, 64 * KIB - 1, 64 * KIB + 1, 3 * 64 * KIB + 7])
def test_tail_of_long_lines_reads_at_most_the_byte_budget_with_exact_numbers(
    stores, step_id, budget
):
    # Four chunks of two 64 KiB lines without a newline inside, the attack of the issue.
    blobs = []
    for seq in range(4):
        blob = b"".join(bytes([65 + seq * 2 + i]) * (64 * KIB) + b"\n" for i in range(2))
        blobs.append(blob)
        stores.logs.append(step_id, seq, blob)
    expected = _reference_lines(blobs)
    tail = stores.logs.tail(step_id, max_bytes=budget, max_lines=5000)
    assert sum(len(line) + 1 for line in tail.lines) <= budget + 1
    assert tail.total_lines == len(expected) == 8
    number = tail.first_line
    for line in tail.lines:
        wanted = expected[number - 1]
        if tail.truncated and number == tail.first_line:
            assert wanted.endswith(line) and len(line) < len(wanted)
        else:
            assert line == wanted
        number += 1


def test_tail_after_a_chunk_reads_only_newer_chunks(stores, step_id):
    for seq in range(5):
        stores.logs.append(step_id, seq, f"line {seq}\n")
    tail = stores.logs.tail(step_id, max_bytes=KIB, max_lines=100, after=2)
    assert tail.lines == ["line 3", "line 4"]
    assert (tail.first_line, tail.last_seq) == (4, 4)


def test_pages_end_at_the_chunk_that_reaches_their_bytes(stores, step_id):
    blobs = [bytes([97 + seq % 26]) * (10 * KIB) + b"\n" for seq in range(40)]
    blobs.insert(7, b"x" * (200 * KIB) + b"\n")  # one chunk bigger than a page
    for seq, blob in enumerate(blobs):
        stores.logs.append(step_id, seq, blob)
    after, seen = -1, []
    while page := stores.logs.page(step_id, after, max_bytes=64 * KIB):
        # A page ends with the chunk that reaches its bytes: before it, less than that.
        assert sum(len(data) for _seq, data, _ms in page[:-1]) < 64 * KIB
        seen.extend(page)
        after = page[-1][0]
    assert [data for _seq, data, _ms in seen] == blobs
    assert b"".join(stores.logs.iter_raw(step_id)) == b"".join(blobs)


def test_raw_log_ends_every_chunk_with_a_newline(stores, step_id):
    stores.logs.append(step_id, 0, b"no newline")
    stores.logs.append(step_id, 1, b"next\n")
    assert b"".join(stores.logs.iter_raw(step_id)) == b"no newline\nnext\n"


def test_tail_line_numbers_follow_a_log_written_again(stores, step_id):
    for seq in range(3):
        stores.logs.append(step_id, seq, b"a\nb\n")
    assert stores.logs.tail(step_id, max_bytes=KIB, max_lines=1).first_line == 6
    assert stores.logs.tail(step_id, max_bytes=KIB, max_lines=1).first_line == 6  # remembered
    stores.logs.delete(step_id)  # a requeued stage's next attempt writes the same chunk numbers
    for seq in range(3):
        stores.logs.append(step_id, seq, b"c\n")
    tail = stores.logs.tail(step_id, max_bytes=KIB, max_lines=1)
    assert (tail.lines, tail.first_line, tail.total_lines) == (["c"], 3, 3)
