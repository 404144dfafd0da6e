"""Reading a step's stored log anywhere, not only at its end: line ranges and search.

Lines are numbered from 1 over the stored log, as the tail and the live stream number them
(``runner.logtext.split_lines``: a chunk ends its last line, ``\\n`` ends a line inside one).
When the size cap dropped the oldest chunks, the first chunk kept starts at line 1 again, as in
the tail. Finding the chunk that holds a line adds up the line counts of the chunks before it;
the chunks from it on are read a few rows at a time, within a budget. Lines come
with their chunk's time (``elapsed_ms``), as marks in a range and per line in a search.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from runner.logtext import plain, split_lines
from runner.store.bucket import LogBucket
from runner.store.logchunks import STORED, ChunkReader
from runner.store.logtail import Marks
from runner.store.models import LogChunkRow

_DATA_ROWS = 4  # chunks (each up to the RPC body limit) handed over at a time
# Chunks are opened in batches of about this many bytes (one ranged read from the bucket).
_BATCH_BYTES = 1024 * 1024
_COUNT_ROWS = 1024  # (seq, lines) pairs handed over at a time
EXCERPT_BEFORE = 100  # characters of a matching line kept before its first match
EXCERPT_CHARS = 300  # characters of a matching line an answer holds at most


@dataclass
class LogLines:
    """Consecutive lines of a step's stored log."""

    first_line: int  # number of lines[0]
    lines: list[str]
    more: bool  # lines follow the last one returned
    cut: list[int] = field(default_factory=list)  # numbers of lines kept only in part
    times: Marks = field(default_factory=list)  # (line, ms) where a time starts, as LogTail's


@dataclass
class LogMatch:
    """One matching line: its number, an excerpt of its text (escapes removed) and its time
    since the step started (None when its chunk has none)."""

    line: int
    text: str
    elapsed_ms: int | None = None


@dataclass
class LogSearch:
    """What one search pass over part of a log found."""

    matches: list[LogMatch]  # the first ``limit`` matching lines after ``after``
    count: int  # matching lines after ``after`` up to ``scanned_to``
    scanned_to: int  # the last line searched
    complete: bool  # the pass reached the end of the stored log


def _locate(s: Session, step_id: int, line: int) -> tuple[int, int] | None:
    """The chunk holding line ``line`` as ``(seq, lines before it)``; None past the end."""
    before = 0
    rows = s.execute(
        select(LogChunkRow.seq, LogChunkRow.lines)
        .where(LogChunkRow.step_id == step_id)
        .order_by(LogChunkRow.seq)
        .execution_options(yield_per=_COUNT_ROWS)
    )
    try:
        for seq, lines in rows:
            if before + lines >= line:
                return seq, before
            before += lines
    finally:
        rows.close()
    return None


def _chunks_from(
    s: Session, bucket: LogBucket | None, step_id: int, seq: int
) -> Iterator[tuple[int, bytes, int | None]]:
    reader = ChunkReader(s, step_id, bucket)
    rows = s.execute(
        select(LogChunkRow.seq, LogChunkRow.elapsed_ms, *STORED)
        .where(LogChunkRow.step_id == step_id, LogChunkRow.seq >= seq)
        .order_by(LogChunkRow.seq)
        .execution_options(yield_per=_DATA_ROWS)
    )
    try:
        batch: list[Any] = []
        size = 0
        for row in rows:
            batch.append(row)
            size += row.size
            if size >= _BATCH_BYTES:
                yield from _opened(reader, batch)
                batch, size = [], 0
        yield from _opened(reader, batch)
    finally:
        rows.close()


def _opened(reader: ChunkReader, rows: list[Any]) -> Iterator[tuple[int, bytes, int | None]]:
    for (seq, elapsed, *_stored), data in zip(
        rows, reader.open([row[2:] for row in rows]), strict=True
    ):
        yield seq, data, elapsed


def read_lines(
    s: Session, bucket: LogBucket | None, step_id: int, first: int, count: int, max_chars: int
) -> LogLines:
    """Up to ``count`` lines from line ``first`` on, at most about ``max_chars`` characters in
    all: the line that reaches the budget is the last, cut to what remained of it."""
    where = _locate(s, step_id, first)
    if where is None:
        return LogLines(first_line=first, lines=[], more=False)
    seq, number = where
    got = LogLines(first_line=first, lines=[], more=False)
    budget = max_chars
    for _seq, data, elapsed in _chunks_from(s, bucket, step_id, seq):
        for line in split_lines(data):
            number += 1
            if number < first:
                continue
            if len(got.lines) >= count or budget <= 0:
                got.more = True
                return got
            if len(line) > budget:
                line = line[:budget] + "\u2026"
                got.cut.append(number)
            if not got.times or got.times[-1][1] != elapsed:
                got.times.append((number, elapsed))
            got.lines.append(line)
            budget -= len(line)
    return got


def _lines_in(text: str) -> int:
    return text.count("\n") + (0 if not text or text.endswith("\n") else 1)


def _excerpt(text: str, at: int) -> str:
    start = max(0, at - EXCERPT_BEFORE)
    part = text[start : start + EXCERPT_CHARS]
    more = start + EXCERPT_CHARS < len(text)
    return ("\u2026" if start else "") + part + ("\u2026" if more else "")


def search_lines(
    s: Session,
    bucket: LogBucket | None,
    step_id: int,
    query: str,
    *,
    after: int,
    limit: int,
    max_bytes: int,
    max_seconds: float = 2.0,
) -> LogSearch:
    """Lines after line ``after`` whose text as shown (carriage returns applied, escapes
    removed) holds ``query``, ignoring case. Stops at the end of a chunk once ``max_bytes`` of
    log were read or ``max_seconds`` passed; ``scanned_to`` says where, so the next pass starts
    after it."""
    needle = query.lower()
    where = _locate(s, step_id, after + 1)
    if where is None:
        return LogSearch(matches=[], count=0, scanned_to=after, complete=True)
    seq, number = where
    matches: list[LogMatch] = []
    found = 0
    read = 0
    deadline = time.monotonic() + max_seconds
    for _seq, data, elapsed in _chunks_from(s, bucket, step_id, seq):
        if read >= max_bytes or time.monotonic() > deadline:
            return LogSearch(matches, found, max(number, after), complete=False)
        text = data.decode("utf-8", "replace")
        read += len(data)
        # Most chunks hold no match: one look at the whole chunk skips splitting it.
        if "\r" not in text and needle not in plain(text).lower():
            number += _lines_in(text)
            continue
        # Escapes removed first: what a reader sees, with no colour kept across an overwrite.
        for shown in split_lines(plain(text)):
            number += 1
            if number <= after:
                continue
            at = shown.lower().find(needle)
            if at < 0:
                continue
            found += 1
            if len(matches) < limit:
                matches.append(LogMatch(number, _excerpt(shown, at), elapsed))
    return LogSearch(matches, found, max(number, after), complete=True)
