"""Moving the logs of ended stages out of the database into the log bucket, and removing the
objects of logs that were deleted.

A step's log moves once its stage has ended: its chunks, as stored (compressed), go one after
the other into one object ``<prefix><repo id>/<build id>/<step id>-<random>.log``; then one
transaction records the object's key on the step and each chunk's offset in it, and empties
the chunks' data. Readers never see a half-moved log: a chunk is either in its row or at its
recorded offset (``runner.store.logchunks``). The database keeps a few dozen bytes per chunk.

Several server processes may move at once without coordination: each object has a key of its
own, only one transaction records a key on a step (the one that finds none there), and the
others remove the object they wrote. A log that changed while it was read is left for the next
pass. Deleting a log records its object in ``log_object_trash`` in the same transaction
(``discard_objects``); ``empty_trash`` removes those objects from the bucket, then the rows.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from runner.core import DONE_STATUSES
from runner.store.bucket import LogBucket
from runner.store.convert import affected
from runner.store.db import Database
from runner.store.models import (
    BuildRow,
    LogChunkRow,
    LogObjectTrashRow,
    StageRow,
    StepRow,
    table,
)

MOVE_BATCH = 20  # steps one pass of ``move_ended`` moves at most
TRASH_BATCH = 1000  # objects one pass of ``empty_trash`` removes at most
# A log being moved is gathered in a temporary file that stays in memory up to this size.
_SPOOL_BYTES = 1024 * 1024
_READ_ROWS = 4  # chunks handed over by the database at a time while gathering


def discard_objects(s: Session, step_ids: Select[Any] | Iterable[int]) -> None:
    """Record the bucket objects of these steps' logs for removal; call it in the transaction
    that deletes the logs (or the steps), before they are deleted."""
    s.execute(
        insert(LogObjectTrashRow).from_select(
            ["key", "added"],
            select(StepRow.log_object, literal(time.time())).where(
                StepRow.id.in_(step_ids), StepRow.log_object.is_not(None)
            ),
        )
    )


class _Changed(Exception):
    """The log gained or lost chunks while it was being moved."""


class LogArchive:
    """Moves ended logs into ``bucket`` and empties the trash; does nothing without one."""

    def __init__(self, db: Database, bucket: LogBucket | None):
        self.db = db
        self.bucket = bucket
        chunks = table(LogChunkRow)
        self._place = (
            update(chunks)
            .where(chunks.c.id == bindparam("chunk_id"))
            .values(data=b"", object_offset=bindparam("at"))
        )

    def move_ended(self, limit: int = MOVE_BATCH) -> int:
        """Move the logs of up to ``limit`` steps whose stage has ended; how many moved."""
        if self.bucket is None:
            return 0
        with self.db.session() as s:
            waiting = s.execute(
                select(StepRow.id, BuildRow.repo_id, StageRow.build_id)
                .join(StageRow, StageRow.id == StepRow.stage_id)
                .join(BuildRow, BuildRow.id == StageRow.build_id)
                .where(
                    StepRow.log_object.is_(None),
                    StepRow.log_bytes > 0,
                    StageRow.status.in_(list(DONE_STATUSES)),
                )
                # Other processes pass too: each starts somewhere else in the list.
                .order_by(func.random())
                .limit(limit)
            ).all()
        return sum(self.move(*found) for found in waiting)

    def move(self, step_id: int, repo_id: int, build_id: int) -> bool:
        """Move the step's log into an object of its own; False when there was nothing to move
        or another process moved it first (the object written here is removed again)."""
        assert self.bucket is not None
        key = self.bucket.key(f"{repo_id}/{build_id}/{step_id}-{secrets.token_hex(6)}.log")
        placed: list[dict[str, int]] = []
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
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
            if not placed:
                return False
            spool.seek(0)
            self.bucket.put(key, spool)
        try:
            with self.db.write_connection() as conn:
                steps = table(StepRow)
                recorded = conn.execute(
                    update(steps)
                    .where(steps.c.id == step_id, steps.c.log_object.is_(None))
                    .values(log_object=key)
                )
                if not affected(recorded):
                    raise _Changed
                chunks = table(LogChunkRow)
                now = conn.execute(
                    select(func.count(), func.max(chunks.c.id)).where(
                        chunks.c.step_id == step_id, chunks.c.object_offset.is_(None)
                    )
                ).one()
                if tuple(now) != (len(placed), placed[-1]["chunk_id"]):
                    raise _Changed
                conn.execute(self._place, placed)
        except _Changed:
            self.bucket.delete([key])
            return False
        return True

    def empty_trash(self, limit: int = TRASH_BATCH) -> int:
        """Remove up to ``limit`` objects of deleted logs from the bucket; how many."""
        if self.bucket is None:
            return 0
        with self.db.session() as s:
            rows = s.execute(
                select(LogObjectTrashRow.id, LogObjectTrashRow.key)
                .order_by(LogObjectTrashRow.id)
                .limit(limit)
            ).all()
        if not rows:
            return 0
        self.bucket.delete([key for _id, key in rows])
        with self.db.write() as s:
            s.execute(
                delete(LogObjectTrashRow).where(
                    LogObjectTrashRow.id.in_([row_id for row_id, _key in rows])
                )
            )
        return len(rows)
