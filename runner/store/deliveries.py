"""Webhook deliveries already seen, so a forge's replay does not create a second build."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from runner.store.convert import now, to_record
from runner.store.db import Database
from runner.store.models import HookDeliveryRow
from runner.store.records import HookDelivery


class HookDeliveryStore:
    """Delivery ids per repository. Thread-safe; ``record`` is atomic across processes."""

    def __init__(self, db: Database):
        self.db = db
        self._insert = pg_insert if db.is_postgres else sqlite_insert

    def record(self, repo_id: int, delivery_id: str) -> bool:
        """Remember the delivery; True the first time, False for a replay.

        Call it before creating the build, then ``set_build``; two concurrent deliveries of the
        same id get one True between them.
        """
        with self.db.write() as s:
            inserted = s.execute(
                self._insert(HookDeliveryRow)
                .values(repo_id=repo_id, delivery_id=delivery_id, created=now())
                .on_conflict_do_nothing(index_elements=["repo_id", "delivery_id"])
                .returning(HookDeliveryRow.id)
            ).scalar()
            return inserted is not None

    def set_build(self, repo_id: int, delivery_id: str, build_id: int) -> None:
        """Note the build a delivery made (answered to replays)."""
        with self.db.write() as s:
            s.execute(
                update(HookDeliveryRow)
                .where(
                    HookDeliveryRow.repo_id == repo_id, HookDeliveryRow.delivery_id == delivery_id
                )
                .values(build_id=build_id)
            )

    def forget(self, repo_id: int, delivery_id: str) -> None:
        """Drop a delivery (its build could not be created, so a resend should be tried)."""
        with self.db.write() as s:
            s.execute(
                delete(HookDeliveryRow).where(
                    HookDeliveryRow.repo_id == repo_id, HookDeliveryRow.delivery_id == delivery_id
                )
            )

    def get(self, repo_id: int, delivery_id: str) -> HookDelivery | None:
        with self.db.session() as s:
            row = s.scalar(
                select(HookDeliveryRow).where(
                    HookDeliveryRow.repo_id == repo_id, HookDeliveryRow.delivery_id == delivery_id
                )
            )
            return to_record(HookDelivery, row) if row else None

    def purge_before(self, when: float) -> int:
        """Forget deliveries older than ``when`` (forges replay within hours, not months)."""
        with self.db.write() as s:
            return s.execute(delete(HookDeliveryRow).where(HookDeliveryRow.created < when)).rowcount
