"""The end of a step's log with exact line numbers, read within a byte budget.

A log can be 64 MiB of lines of any length. The tail reads chunk sizes newest first, then the
data of only the chunks (and the end of the one chunk) that fit the budget; the lines before
them are the sum of their chunks' line counts, so the numbers are exact and no byte of them is
read.
Lines are counted as the rest of the server counts them: a chunk ends its last line, and
``\\n`` ends a line inside a chunk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runner.logtext import split_lines
from runner.store.bucket import LogBucket
from runner.store.logchunks import STORED, ChunkReader
from runner.store.models import LogChunkRow, StepRow

# Chunk sizes read per query while walking back from the newest chunk.
_SIZES_PAGE = 256


@dataclass
class LogTail:
    """The end of a step's log: its lines, where they start, and where the stream resumes."""

    lines: list[str]
    first_line: int  # number of lines[0], counted from 1 over the stored log
    total_lines: int
    last_seq: int | None  # resume the live stream after this chunk; None: no chunk stored
    truncated: bool = False  # lines[0] is only the end of a line longer than the byte budget
    # (line number, ms since the step started or None): that line and the ones after it up to
    # the next mark were printed then. The first mark is at ``first_line`` when there are lines.
    times: list[tuple[int, int | None]] = field(default_factory=list)


Marks = list[tuple[int, int | None]]


def time_marks(first_line: int, chunks: list[tuple[int, int | None]], skip: int = 0) -> Marks:
    """The marks of consecutive chunks given as ``(lines, elapsed_ms)`` whose first line is
    number ``first_line``, leaving out their first ``skip`` lines: a mark where a chunk starts
    with a time other than the one before it (and one at the first line kept)."""
    marks: Marks = []
    line = first_line
    start = first_line + skip
    for count, elapsed in chunks:
        end = line + count
        if count and end > start:
            at = max(line, start)
            if not marks or marks[-1][1] != elapsed:
                marks.append((at, elapsed))
        line = end
    return marks


class LineCounts:
    """Remembers how many lines lie before a chunk, so viewers of one big log do not each make
    the database add up its chunks again (on SQLite that walks every chunk's pages).
    Thread-safe; holds at most ``size`` answers.

    An answer is keyed by the chunks it counted (their number, lowest and highest row ids and
    bytes) and the start of the step's attempt: chunks never change once stored, a cut removes
    the oldest rows, and a requeued stage's next attempt starts again, so a changed log does
    not find an old answer.
    """

    def __init__(self, size: int = 512):
        self._size = size
        self._lock = threading.Lock()
        self._answers: OrderedDict[tuple[Any, ...], int] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> int | None:
        with self._lock:
            found = self._answers.get(key)
            if found is not None:
                self._answers.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], lines: int) -> None:
        with self._lock:
            self._answers[key] = lines
            self._answers.move_to_end(key)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)


def _lines_before(s: Session, step_id: int, seq: int, counts: LineCounts) -> int:
    """Lines of the chunks stored before chunk ``seq``."""
    before = (LogChunkRow.step_id == step_id, LogChunkRow.seq < seq)
    started = select(StepRow.started).where(StepRow.id == step_id).scalar_subquery()
    rows = s.execute(
        select(
            func.count(),
            func.min(LogChunkRow.id),
            func.max(LogChunkRow.id),
            # A blob's length comes from its row's header, without reading it.
            func.sum(func.length(LogChunkRow.data)),
            started,
        ).where(*before)
    ).one()
    if not rows[0]:
        return 0
    key = (step_id, seq, *rows)
    found = counts.get(key)
    if found is not None:
        return found
    lines = int(s.scalar(select(func.sum(LogChunkRow.lines)).where(*before)) or 0)
    counts.put(key, lines)
    return lines


def _chunk_lines(data: bytes) -> list[str]:
    # Split as the API's stream does, so line numbers agree between the tail and the stream.
    return split_lines(data)


def read_tail(
    s: Session,
    bucket: LogBucket | None,
    counts: LineCounts,
    step_id: int,
    max_bytes: int,
    max_lines: int,
    after: int = -1,
) -> LogTail:
    """See ``LogStore.tail``."""
    chunks = LogChunkRow
    reader = ChunkReader(s, step_id, bucket)
    last_seq = s.scalar(select(func.max(chunks.seq)).where(chunks.step_id == step_id))
    budget = max(1, max_bytes)
    picked: list[tuple[list[str], int | None]] = []  # (lines, elapsed_ms), newest first
    count = 0
    oldest_seq: int | None = None
    prefix_lines = 0  # lines of the oldest chunk read that lie before the part read
    truncated = False
    below: int | None = None
    while budget > 0 and count < max_lines:
        query = select(chunks.seq, chunks.size).where(chunks.step_id == step_id, chunks.seq > after)
        if below is not None:
            query = query.where(chunks.seq < below)
        sizes = s.execute(query.order_by(chunks.seq.desc()).limit(_SIZES_PAGE)).all()
        if not sizes:
            break
        fits: list[int] = []  # chunks read whole, newest first
        part = None
        for seq, size in sizes:
            if budget <= 0:
                break
            if size > budget:
                part = (seq, size - budget)
                budget = 0
                break
            fits.append(seq)
            budget -= size
        if fits:
            rows = s.execute(
                select(chunks.seq, chunks.elapsed_ms, *STORED)
                .where(chunks.step_id == step_id, chunks.seq >= fits[-1], chunks.seq <= fits[0])
                .order_by(chunks.seq.desc())
            ).all()
            for (seq, elapsed, *_stored), data in zip(
                rows, reader.open([row[2:] for row in rows]), strict=True
            ):
                lines = _chunk_lines(data)
                picked.append((lines, elapsed))
                count += len(lines)
                oldest_seq = seq
                if count >= max_lines:
                    break
        if part is not None and count < max_lines:
            lines, prefix_lines, truncated, elapsed = _part(s, reader, *part)
            picked.append((lines, elapsed))
            count += len(lines)
            oldest_seq = part[0]
        below = sizes[-1][0]
        if len(sizes) < _SIZES_PAGE:
            break
    if oldest_seq is None:
        return LogTail(lines=[], first_line=1, total_lines=0, last_seq=last_seq)
    before = _lines_before(s, step_id, oldest_seq, counts) + prefix_lines
    picked.reverse()
    lines = [line for chunk, _elapsed in picked for line in chunk]
    skipped = max(0, len(lines) - max_lines)
    if skipped:
        lines = lines[skipped:]
        truncated = False
    times = time_marks(before + 1, [(len(chunk), elapsed) for chunk, elapsed in picked], skipped)
    return LogTail(
        lines=lines,
        first_line=before + skipped + 1,
        total_lines=before + skipped + len(lines),
        last_seq=last_seq,
        truncated=truncated,
        times=times,
    )


def _part(
    s: Session, reader: ChunkReader, seq: int, skip: int
) -> tuple[list[str], int, bool, int | None]:
    """The end of chunk ``seq`` after its first ``skip`` bytes: its whole lines, the number of
    lines before them within the chunk, whether the lines start with the end of a line (only
    when no line of the part starts inside it), and the chunk's time."""
    elapsed, *stored = s.execute(
        select(LogChunkRow.elapsed_ms, *STORED).where(
            LogChunkRow.step_id == reader.step_id, LogChunkRow.seq == seq
        )
    ).one()
    [blob] = reader.open([stored])
    newlines = blob.count(b"\n", 0, skip)
    # The byte before the part says whether the part starts a line.
    starts_line, rest = blob[skip - 1 : skip] == b"\n", blob[skip:]
    if starts_line:
        return _chunk_lines(rest), int(newlines), False, elapsed
    end = rest.find(b"\n")
    if 0 <= end < len(rest) - 1:
        # The part starts inside a line: drop that line's end, the next line is whole.
        return _chunk_lines(rest[end + 1 :]), int(newlines) + 1, False, elapsed
    return _chunk_lines(rest), int(newlines), True, elapsed
