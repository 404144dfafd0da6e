"""Where a stored log chunk's bytes are read from: its row, or its step's object in the bucket.

A chunk's row keeps its sequence number, size, line count and time for good; its bytes stay
in the row until the stage ends and the log mover (``runner.store.logmover``) puts the
step's chunks, one after the other as stored, into one object of the log bucket. Readers
select ``*STORED`` with the rows they want and hand them to a ``ChunkReader``, which reads the
moved ones with one ranged read per call and unpacks every chunk (``runner.store.logcodec``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from runner.errors import NotFound, StorageUnavailable
from runner.store.bucket import LogBucket
from runner.store.logcodec import unpack
from runner.store.models import LogChunkRow, StepRow

# The columns a ``ChunkReader`` reads a chunk from, in its order: select them with ``*STORED``.
STORED = (
    LogChunkRow.data,
    LogChunkRow.codec,
    LogChunkRow.size,
    LogChunkRow.stored,
    LogChunkRow.object_offset,
)


class ChunkReader:
    """Reads chunks of one step within one session."""

    def __init__(self, s: Session, step_id: int, bucket: LogBucket | None):
        self._s = s
        self.step_id = step_id
        self._bucket = bucket
        self._key: str | None = None

    def open(self, rows: Sequence[Sequence[Any]]) -> list[bytes]:
        """The bytes of the chunks whose ``STORED`` values are ``rows``, in their order.

        Chunks in the bucket are read in one range, from the first one's start to the last
        one's end: callers pass consecutive chunks.
        """
        moved = [(offset, stored) for *_, stored, offset in rows if offset is not None]
        start = end = 0
        window = b""
        if moved:
            start = min(offset for offset, _stored in moved)
            end = max(offset + stored for offset, stored in moved)
            window = self._bucket_of().read(self._object_key(), start, end)
        out = []
        for data, codec, size, stored, offset in rows:
            if offset is not None:
                data = window[offset - start : offset - start + stored]
            out.append(unpack(data, codec, size))
        return out

    def _bucket_of(self) -> LogBucket:
        if self._bucket is None:
            raise StorageUnavailable(
                "this log was moved to a log bucket, and this server has no log_store configured"
            )
        return self._bucket

    def _object_key(self) -> str:
        if self._key is None:
            # Set in the transaction that moved the chunks: a row seen moved names its object.
            self._key = self._s.scalar(select(StepRow.log_object).where(StepRow.id == self.step_id))
            if self._key is None:
                # Its log was deleted between the read of its rows and this one.
                raise NotFound("this log was deleted")
        return self._key
