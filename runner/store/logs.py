"""Step logs as chunks: one blob per batch the agent sends, never a row per line.

Each chunk has a per-step sequence number; ``(step_id, seq)`` is unique, so an agent that resends
a batch after a timeout never duplicates lines. A per-step size cap drops the oldest chunks and
counts what was cut in the step's ``log_cut_bytes``.

A chunk carries ``elapsed_ms``: milliseconds from its step's start to when its lines were
gathered, which is the time of each of its lines (None for chunks stored before it existed).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from sqlalchemy import bindparam, case, delete, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from runner.core import DONE_STATUSES, RUNNING
from runner.errors import BadRequest, Forbidden, NotFound
from runner.logtext import MAX_ELAPSED_MS, count_lines
from runner.store.bucket import LogBucket
from runner.store.convert import affected
from runner.store.db import Database
from runner.store.logchunks import STORED, ChunkReader
from runner.store.logcodec import pack
from runner.store.logmover import discard_objects
from runner.store.logread import LogLines, LogSearch, read_lines, search_lines
from runner.store.logtail import LineCounts, LogTail, read_tail
from runner.store.models import BuildRow, LogChunkRow, RepoRow, StageRow, StepRow, table

DEFAULT_CAP = 64 * 1024 * 1024
# Reading a log: the bytes of chunks after which a page ends, and the most chunks it holds.
PAGE_BYTES = 1024 * 1024
_MAX_PAGE = 1024
_FETCH_ROWS = 4  # rows the database driver hands over at a time

TimedChunk = tuple[int, bytes, int | None]  # (seq, data, elapsed_ms)


def as_bytes(data: bytes | str | Iterable[str]) -> bytes:
    """A batch as bytes: bytes unchanged, text UTF-8, a list of lines one per line."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    return "".join(line if line.endswith("\n") else line + "\n" for line in data).encode("utf-8")


def elapsed_since(started: float, now: float | None = None) -> int | None:
    """A chunk's time stamped by the server for an agent that sends none: ``now`` minus the
    step's start in ms, within the column's range; None while the start is not recorded."""
    if not started:
        return None
    now = time.time() if now is None else now
    return min(MAX_ELAPSED_MS, max(0, round((now - started) * 1000)))


class LogStore:
    """Log chunks of steps. Thread-safe; ``append`` from many agents at once is fine."""

    def __init__(
        self, db: Database, *, cap_bytes: int = DEFAULT_CAP, bucket: LogBucket | None = None
    ):
        self.db = db
        self.cap_bytes = cap_bytes
        self.bucket = bucket  # where logs of ended stages move to (None: they stay here)
        self._line_counts = LineCounts()
        # The append path is the hottest of the server (a log flood is thousands of chunks a
        # second): statements are built once and run on a Core connection, without the ORM.
        insert = pg_insert if db.is_postgres else sqlite_insert
        chunks, steps = table(LogChunkRow), table(StepRow)
        self._insert_chunk = (
            insert(chunks)
            .values(
                step_id=bindparam("step_id"),
                seq=bindparam("seq"),
                data=bindparam("data"),
                size=bindparam("size"),
                elapsed_ms=bindparam("elapsed_ms"),
                codec=bindparam("codec"),
                lines=bindparam("lines"),
                stored=bindparam("stored"),
            )
            .on_conflict_do_nothing(index_elements=["step_id", "seq"])
            .returning(chunks.c.id)
        )
        self._count_bytes = (
            update(steps)
            .where(steps.c.id == bindparam("step_id"))
            .values(
                log_bytes=steps.c.log_bytes + bindparam("added"),
                log_cut_bytes=steps.c.log_cut_bytes + bindparam("cut"),
            )
            .returning(steps.c.log_bytes)
        )
        self._step_exists = select(steps.c.id).where(steps.c.id == bindparam("step_id"))
        stages = table(StageRow)
        holder = (
            select(stages.c.agent_id, stages.c.status)
            .select_from(steps.join(stages, stages.c.id == steps.c.stage_id))
            .where(steps.c.id == bindparam("step_id"))
        )
        # On PostgreSQL a share lock on the stage row orders the append against a concurrent
        # requeue (which deletes the stage's logs); SQLite's write lock does that already.
        self._holder = holder.with_for_update(read=True, of=stages) if db.is_postgres else holder

    def append(
        self,
        step_id: int,
        seq: int,
        data: bytes | str | Iterable[str],
        *,
        agent_id: int | None = None,
        elapsed_ms: int | None = None,
    ) -> bool:
        """Store chunk ``seq`` of the step; False (and nothing stored) if it was there already.

        ``elapsed_ms`` is the chunk's time since the step started (None: unknown).

        With ``agent_id``, the chunk is stored only while that agent holds the step's stage
        (running): an agent that lost its stage to a requeue gets ``Forbidden`` instead of
        mixing its lines into the next attempt's log.

        When the step's log passes the cap, the oldest chunks are dropped (a single chunk larger
        than the cap keeps its last ``cap`` bytes, from a line start) and the step's
        ``log_cut_bytes`` grows by what was dropped. Raises ``NotFound`` for an unknown step.
        """
        if seq < 0:
            raise BadRequest(f"log sequence numbers start at 0, got {seq}")
        if elapsed_ms is not None and not 0 <= elapsed_ms <= MAX_ELAPSED_MS:
            raise BadRequest(f"a log chunk's time is 0 to {MAX_ELAPSED_MS} ms, not {elapsed_ms}")
        blob = as_bytes(data)
        cut = 0
        if len(blob) > self.cap_bytes:
            keep = blob[-self.cap_bytes :]
            newline = keep.find(b"\n")
            starts_line = blob[-self.cap_bytes - 1 : -self.cap_bytes] == b"\n"
            if not starts_line and 0 <= newline < len(keep) - 1:
                keep = keep[newline + 1 :]
            cut = len(blob) - len(keep)
            blob = keep
        stored, codec = pack(blob)
        try:
            with self.db.write_connection() as conn:
                if agent_id is not None:
                    self._check_holder(conn, step_id, agent_id)
                row = {
                    "step_id": step_id,
                    "seq": seq,
                    "data": stored,
                    "size": len(blob),
                    "elapsed_ms": elapsed_ms,
                    "codec": codec,
                    "lines": count_lines(blob),
                    "stored": len(stored),
                }
                inserted = conn.execute(self._insert_chunk, row).scalar()
                if inserted is None:
                    if conn.execute(self._step_exists, {"step_id": step_id}).first() is None:
                        raise NotFound(f"no step with id {step_id}")
                    return False
                total = conn.execute(
                    self._count_bytes, {"step_id": step_id, "added": len(blob), "cut": cut}
                ).scalar()
                if total is not None and total > self.cap_bytes:
                    self._trim(conn, step_id, total - self.cap_bytes)
                return True
        except IntegrityError:
            raise NotFound(f"no step with id {step_id}") from None

    def _check_holder(self, conn: Connection, step_id: int, agent_id: int) -> None:
        found = conn.execute(self._holder, {"step_id": step_id}).first()
        if found is None:
            raise NotFound(f"no step with id {step_id}")
        holder, status = found
        if holder != agent_id or status != RUNNING:
            raise Forbidden(
                f"step {step_id} is not in a stage this agent runs now (it was requeued, "
                "cancelled or finished): drop its log and claim again"
            )

    def _trim(self, s: Connection, step_id: int, excess: int) -> None:
        dropped, after = 0, -1
        # Usually the oldest chunk or two cover the excess: fetch a few at a time, not the log.
        while dropped < excess:
            oldest = s.execute(
                select(LogChunkRow.id, LogChunkRow.seq, LogChunkRow.size)
                .where(LogChunkRow.step_id == step_id, LogChunkRow.seq > after)
                .order_by(LogChunkRow.seq)
                .limit(64)
            ).all()
            if not oldest:
                break
            ids = []
            for chunk_id, seq, size in oldest:
                if dropped >= excess:
                    break
                ids.append(chunk_id)
                dropped += size
                after = seq
            s.execute(delete(LogChunkRow).where(LogChunkRow.id.in_(ids)))
        s.execute(
            update(StepRow)
            .where(StepRow.id == step_id)
            .values(
                log_bytes=StepRow.log_bytes - dropped,
                log_cut_bytes=StepRow.log_cut_bytes + dropped,
            )
        )

    def page(
        self,
        step_id: int,
        after: int = -1,
        *,
        max_bytes: int = PAGE_BYTES,
        max_chunks: int = _MAX_PAGE,
    ) -> list[TimedChunk]:
        """The next chunks with ``seq > after``, in order, as ``(seq, data, elapsed_ms)``: at
        most ``max_chunks``, and no more once ``max_bytes`` are reached (the chunk that reaches
        it is the last; a chunk is never split here).

        Rows are fetched a few at a time (a server-side cursor on PostgreSQL), so a page holds
        at most ``max_bytes`` plus a few chunks (each at most the RPC body limit) in memory.
        """
        picked = []
        total = 0
        with self.db.session() as s:
            rows = s.execute(
                select(LogChunkRow.seq, LogChunkRow.elapsed_ms, *STORED)
                .where(LogChunkRow.step_id == step_id, LogChunkRow.seq > after)
                .order_by(LogChunkRow.seq)
                .limit(max_chunks)
                .execution_options(yield_per=_FETCH_ROWS)
            )
            for row in rows:
                picked.append(row)
                total += row.size
                if total >= max_bytes:
                    break
            rows.close()
            opened = ChunkReader(s, step_id, self.bucket).open([row[2:] for row in picked])
        return [(row[0], data, row[1]) for row, data in zip(picked, opened, strict=True)]

    def iter_chunks(
        self, step_id: int, after: int = -1, *, page_bytes: int = PAGE_BYTES
    ) -> Iterator[tuple[int, bytes]]:
        """Every chunk with ``seq > after`` as ``(seq, data)``, in order (``iter_timed``
        without the times)."""
        for seq, data, _elapsed in self.iter_timed(step_id, after, page_bytes=page_bytes):
            yield seq, data

    def iter_timed(
        self, step_id: int, after: int = -1, *, page_bytes: int = PAGE_BYTES
    ) -> Iterator[TimedChunk]:
        """Every chunk with ``seq > after`` as ``(seq, data, elapsed_ms)``, in order, however
        many there are.

        Chunks are fetched a ``page`` per query, each in its own short transaction (so a
        slow reader holds no lock, and a log still being written is followed to where it is
        now); a page holds about ``page_bytes``, whatever the size of the log.
        """
        while True:
            page = self.page(step_id, after, max_bytes=page_bytes)
            if not page:
                return
            yield from page
            after = page[-1][0]

    def iter_raw(self, step_id: int) -> Iterator[bytes]:
        """The whole stored log as a stream of blobs (for the raw download), each ending a line."""
        for _seq, data in self.iter_chunks(step_id):
            yield data if not data or data.endswith(b"\n") else data + b"\n"

    def tail(self, step_id: int, *, max_bytes: int, max_lines: int, after: int = -1) -> LogTail:
        """The last lines of the step's stored log (of its chunks with ``seq > after``), reading
        at most ``max_bytes`` of log text and keeping at most ``max_lines`` lines.

        Chunks are read newest first; the oldest one read may be read only in part (its end),
        and when that part starts inside a line the line is dropped, or kept as the
        ``truncated`` end of a line longer than ``max_bytes``. The lines before the tail are
        added up from their chunks' line counts, never loaded, so line numbers are exact for
        any log size.
        """
        with self.db.session() as s:
            return read_tail(
                s, self.bucket, self._line_counts, step_id, max_bytes, max_lines, after
            )

    def lines(self, step_id: int, first: int, count: int, *, max_chars: int) -> LogLines:
        """Up to ``count`` lines of the step's stored log from line ``first`` on (numbered as
        ``tail`` numbers them), at most about ``max_chars`` characters in all."""
        with self.db.session() as s:
            return read_lines(s, self.bucket, step_id, first, count, max_chars)

    def search(
        self, step_id: int, query: str, *, after: int = 0, limit: int, max_bytes: int
    ) -> LogSearch:
        """The lines after line ``after`` holding ``query`` (any case, escapes ignored), in
        one pass reading at most about ``max_bytes`` of log (see ``LogSearch``)."""
        with self.db.session() as s:
            return search_lines(
                s,
                self.bucket,
                step_id,
                query,
                after=after,
                limit=limit,
                max_bytes=max_bytes,
            )

    def size(self, step_id: int) -> tuple[int, int]:
        """``(bytes stored, bytes cut by the cap)`` of the step's log."""
        with self.db.session() as s:
            found = s.execute(
                select(StepRow.log_bytes, StepRow.log_cut_bytes).where(StepRow.id == step_id)
            ).first()
            if found is None:
                raise NotFound(f"no step with id {step_id}")
            return found[0], found[1]

    def delete(self, step_id: int) -> None:
        """Drop the step's log (its counters return to zero)."""
        with self.db.write() as s:
            discard_objects(s, [step_id])
            s.execute(delete(LogChunkRow).where(LogChunkRow.step_id == step_id))
            s.execute(
                update(StepRow)
                .where(StepRow.id == step_id)
                .values(log_bytes=0, log_cut_bytes=0, log_object=None)
            )

    def purge_expired(self, now: float, default_days: int) -> int:
        """Drop the logs of steps of stages that ended longer ago than their repository keeps
        logs (its ``log_retention_days``, else ``default_days``; 0 keeps them); returns the
        chunks dropped. The steps stay, with ``log_cut_bytes`` telling what was removed."""
        days = case(
            (RepoRow.log_retention_days > 0, RepoRow.log_retention_days),
            else_=literal(default_days),
        )
        with self.db.write() as s:
            steps = (
                select(StepRow.id)
                .join(StageRow, StageRow.id == StepRow.stage_id)
                .join(BuildRow, BuildRow.id == StageRow.build_id)
                .join(RepoRow, RepoRow.id == BuildRow.repo_id)
                .where(
                    StageRow.status.in_(list(DONE_STATUSES)),
                    StageRow.finished > 0,
                    days > 0,
                    StageRow.finished < literal(now) - days * 86400,
                    StepRow.log_bytes > 0,
                )
            )
            step_ids = list(s.scalars(steps))
            if not step_ids:
                return 0
            discard_objects(s, step_ids)
            dropped = affected(
                s.execute(delete(LogChunkRow).where(LogChunkRow.step_id.in_(step_ids)))
            )
            s.execute(
                update(StepRow)
                .where(StepRow.id.in_(step_ids))
                .values(
                    log_cut_bytes=StepRow.log_cut_bytes + StepRow.log_bytes,
                    log_bytes=0,
                    log_object=None,
                )
            )
            return dropped
