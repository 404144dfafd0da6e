"""The log mover: the logs of ended stages go from the database into the log bucket, and the
objects of deleted logs (or of moves that never completed) are removed.

A step's log moves once its stage has ended:

1. a row of ``log_object_removals`` names the new object and the step, committed before
   anything is written: it is the move's claim (one move per step at a time, whichever server
   process runs it) and, should the move never complete, the order to remove the object;
2. the step's chunks, as stored (compressed), go one after the other into that object
   ``<prefix><repo id>/<build id>/<step id>-<random>.log``;
3. one transaction records the key on the step (only if none is there), checks that the log
   is the one written, records each chunk's offset, empties the chunks' data and deletes the
   claim. Readers never see a half-moved log: a chunk is either in its row or at its recorded
   offset (``runner.store.logchunks``). A log that changed meanwhile is left for a later pass
   and its object removed.

Deleting a log (``discard_objects``, in the deleting transaction, with the steps' rows locked
so a move cannot record a key in between) adds a removal row for its object. ``remove_due``
removes the objects of due rows no step refers to, each key on its own: a key the bucket
refuses waits longer each time and never holds up the others.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from runner.core import DONE_STATUSES
from runner.errors import RunnerError
from runner.store.bucket import LogBucket
from runner.store.convert import affected
from runner.store.db import Database
from runner.store.models import (
    LOG_IN_DATABASE,
    BuildRow,
    LogChunkRow,
    LogObjectRemovalRow,
    StageRow,
    StepRow,
    table,
)

log = logging.getLogger(__name__)

MOVE_BATCH = 20  # steps one pass of ``move_ended`` picks at most
REMOVE_BATCH = 500  # removal rows one pass of ``remove_due`` takes at most
REMOVE_SECONDS = 10.0  # one pass of ``remove_due`` stops starting deletes after this
# A claim older than this belongs to a move that died: its object is removed, the step freed.
MOVE_GRACE = 3600.0
# Seconds before a key the bucket refused is tried again: doubled each time, up to a day.
RETRY_SECONDS, RETRY_MAX = 30.0, 86400.0
# A log being moved is gathered in a temporary file that stays in memory up to this size.
_SPOOL_BYTES = 1024 * 1024
_READ_ROWS = 4  # chunks handed over by the database at a time while gathering


def discard_objects(s: Session, step_ids: Select[Any] | Iterable[int]) -> None:
    """Order the removal of the bucket objects of these steps' logs; call it in the
    transaction that deletes the logs (or the steps), before they are deleted."""
    found = s.execute(
        select(StepRow.log_object)
        .where(StepRow.id.in_(step_ids), StepRow.log_object.is_not(None))
        # On PostgreSQL a move recording its key now waits for this transaction, or this
        # read waits for the move and sees the key.
        .with_for_update()
    ).all()
    now = time.time()
    if found:
        s.execute(
            insert(LogObjectRemovalRow),
            [{"key": key, "not_before": now, "attempts": 0} for (key,) in found],
        )


class _Changed(Exception):
    """The log gained or lost chunks, or was moved or deleted, while it was being moved."""


class LogMover:
    """Moves ended logs into ``bucket`` and removes objects no log needs; with no bucket it
    does nothing."""

    def __init__(self, db: Database, bucket: LogBucket | None):
        self.db = db
        self.bucket = bucket

    def move_ended(self, limit: int = MOVE_BATCH) -> tuple[int, int]:
        """Move the logs of up to ``limit`` steps whose stage has ended: ``(picked, moved)``."""
        if self.bucket is None:
            return 0, 0
        unmoved = exists().where(
            LogChunkRow.step_id == StepRow.id, LogChunkRow.object_offset.is_(None)
        )
        with self.db.session() as s:
            waiting = s.execute(
                select(StepRow.id, BuildRow.repo_id, StageRow.build_id)
                .join(StageRow, StageRow.id == StepRow.stage_id)
                .join(BuildRow, BuildRow.id == StageRow.build_id)
                # Spelled as the partial index's condition, so the planner may use the index.
                .where(text(LOG_IN_DATABASE), StageRow.status.in_(list(DONE_STATUSES)), unmoved)
                # SQLite without statistics would walk every ended stage instead.
                .with_hint(StepRow, "INDEXED BY ix_steps_log_in_database", "sqlite")
                # Other processes pass too: each starts somewhere else in the list.
                .order_by(func.random())
                .limit(limit)
            ).all()
        return len(waiting), sum(self.move(*found) for found in waiting)

    def move(self, step_id: int, repo_id: int, build_id: int) -> bool:
        """Move the step's log into an object of its own; False when another move holds the
        step, there is nothing to move, or the log changed meanwhile."""
        bucket = self.bucket
        assert bucket is not None
        key = bucket.key(f"{repo_id}/{build_id}/{step_id}-{secrets.token_hex(6)}.log")
        claim = self._claim(step_id, key)
        if claim is None:
            return False
        try:
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
                placed = self._gather(step_id, spool)
                if placed:
                    spool.seek(0)
                    bucket.put(key, spool)
                    self._record(step_id, key, claim, placed)
                    return True
        except _Changed:
            pass
        except BaseException:
            self._release(claim)
            raise
        self._release(claim)
        return False

    def _claim(self, step_id: int, key: str) -> int | None:
        try:
            with self.db.write() as s:
                row = LogObjectRemovalRow(
                    key=key, step_id=step_id, not_before=time.time() + MOVE_GRACE, attempts=0
                )
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError:
            return None  # another move holds this step

    def _gather(self, step_id: int, spool: Any) -> list[dict[str, int]]:
        """Write the step's chunks, as stored, one after the other into ``spool``; where each
        one starts."""
        placed: list[dict[str, int]] = []
        with self.db.session() as s:
            rows = s.execute(
                select(LogChunkRow.id, LogChunkRow.data)
                .where(LogChunkRow.step_id == step_id, LogChunkRow.object_offset.is_(None))
                .order_by(LogChunkRow.seq)
                .execution_options(yield_per=_READ_ROWS)
            )
            for chunk_id, data in rows:
                placed.append({"chunk_id": chunk_id, "at": spool.tell()})
                spool.write(data)
            rows.close()
        return placed

    def _record(self, step_id: int, key: str, claim: int, placed: list[dict[str, int]]) -> None:
        steps, chunks = table(StepRow), table(LogChunkRow)
        with self.db.write_connection() as conn:
            recorded = conn.execute(
                update(steps)
                .where(steps.c.id == step_id, steps.c.log_object.is_(None))
                .values(log_object=key)
            )
            if not affected(recorded):
                raise _Changed
            now = conn.execute(
                select(func.count(), func.max(chunks.c.id)).where(
                    chunks.c.step_id == step_id, chunks.c.object_offset.is_(None)
                )
            ).one()
            if tuple(now) != (len(placed), placed[-1]["chunk_id"]):
                raise _Changed
            conn.execute(
                update(chunks)
                .where(chunks.c.id == bindparam("chunk_id"))
                .values(data=b"", object_offset=bindparam("at")),
                placed,
            )
            removals = table(LogObjectRemovalRow)
            # Gone only if this move outlived MOVE_GRACE and its object was removed.
            if not affected(conn.execute(delete(removals).where(removals.c.id == claim))):
                raise _Changed

    def _release(self, claim: int) -> None:
        """Free the step for another move; the object, if any was written, is removed by the
        next ``remove_due`` (no step refers to it)."""
        with self.db.write() as s:
            s.execute(
                update(LogObjectRemovalRow)
                .where(LogObjectRemovalRow.id == claim)
                .values(step_id=None, not_before=time.time())
            )

    def remove_due(self, limit: int = REMOVE_BATCH, now: float | None = None) -> int:
        """Remove from the bucket up to ``limit`` objects whose removal is due and that no step
        refers to; how many were removed. A key the bucket refuses is tried again later."""
        if self.bucket is None:
            return 0
        now = time.time() if now is None else now
        referred = exists().where(StepRow.log_object == LogObjectRemovalRow.key)
        with self.db.session() as s:
            due = s.execute(
                select(LogObjectRemovalRow.id, LogObjectRemovalRow.key, referred)
                .where(LogObjectRemovalRow.not_before <= now)
                .order_by(LogObjectRemovalRow.not_before, LogObjectRemovalRow.id)
                .limit(limit)
            ).all()
        removed = 0
        until = time.monotonic() + REMOVE_SECONDS
        for row_id, key, in_use in due:
            if time.monotonic() > until:
                break
            try:
                if not in_use:
                    self.bucket.delete(key)
            except RunnerError:
                self._retry_later(row_id, now)
                continue
            with self.db.write() as s:
                s.execute(delete(LogObjectRemovalRow).where(LogObjectRemovalRow.id == row_id))
            removed += 0 if in_use else 1
        return removed

    def _retry_later(self, row_id: int, now: float) -> None:
        with self.db.write() as s:
            row = s.get(LogObjectRemovalRow, row_id)
            if row is not None:
                row.attempts += 1
                row.not_before = now + min(RETRY_MAX, RETRY_SECONDS * 2 ** (row.attempts - 1))
