"""A build's history (requeues, cancels, approvals, promotions) and its approvals."""

from __future__ import annotations

from sqlalchemy import select

from runner.store import progress
from runner.store.convert import now, to_record
from runner.store.db import Database
from runner.store.models import ApprovalRow, BuildEventRow
from runner.store.records import Approval, BuildEvent


class BuildEventStore:
    """Entries of builds' histories, oldest first. Thread-safe."""

    def __init__(self, db: Database):
        self.db = db

    def add(
        self,
        build_id: int,
        kind: str,
        message: str = "",
        *,
        actor: str = "",
        stage_id: int | None = None,
    ) -> None:
        """Append an entry (``kind`` is a short word: requeued, cancelled, promoted...)."""
        with self.db.write() as s:
            progress.record(s, build_id, kind, message, actor=actor, stage_id=stage_id, now=now())

    def of_build(self, build_id: int) -> list[BuildEvent]:
        with self.db.session() as s:
            rows = s.scalars(
                select(BuildEventRow)
                .where(BuildEventRow.build_id == build_id)
                .order_by(BuildEventRow.id)
            )
            return [to_record(BuildEvent, r) for r in rows]


class ApprovalStore:
    """Decisions on blocked builds (written by ``BuildStore.approve``/``decline``)."""

    def __init__(self, db: Database):
        self.db = db

    def of_build(self, build_id: int) -> list[Approval]:
        with self.db.session() as s:
            rows = s.scalars(
                select(ApprovalRow).where(ApprovalRow.build_id == build_id).order_by(ApprovalRow.id)
            )
            return [to_record(Approval, r) for r in rows]
