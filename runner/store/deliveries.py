"""Webhook deliveries already seen, so a replay does not create a second build.

A delivery is known by its id (the forge's delivery header) and by the SHA-256 of its signed
body: whoever captured a signed request can resend it with a new, unsigned delivery header,
but cannot change the body without the secret.
"""

from __future__ import annotations

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from runner.store.convert import affected, now, to_record
from runner.store.db import Database
from runner.store.models import HookDeliveryRow, RepoRow
from runner.store.records import HookDelivery


class HookDeliveryStore:
    """Delivery ids and body hashes per repository. Thread-safe; ``record`` is atomic across
    processes."""

    def __init__(self, db: Database):
        self.db = db
        self._insert = pg_insert if db.is_postgres else sqlite_insert

    def record(self, repo_id: int, delivery_id: str, body_hash: str = "") -> bool:
        """Remember the delivery; True the first time, False for a replay: the same id, or
        (when ``body_hash`` is given) the same body under any id.

        Call it before creating the build, then ``set_build``; concurrent deliveries of the
        same id or body get one True between them.
        """
        with self.db.write() as s:
            if body_hash:
                if self.db.is_postgres:
                    # Deliveries of one repository take turns here, so two copies of a body
                    # under different ids cannot both pass the check below. (SQLite's write
                    # transaction already holds the database's only write lock.)
                    s.execute(select(RepoRow.id).where(RepoRow.id == repo_id).with_for_update())
                seen = s.scalar(
                    select(HookDeliveryRow.id).where(
                        HookDeliveryRow.repo_id == repo_id, HookDeliveryRow.body_hash == body_hash
                    )
                )
                if seen is not None:
                    return False
            inserted = s.execute(
                self._insert(HookDeliveryRow)
                .values(
                    repo_id=repo_id, delivery_id=delivery_id, body_hash=body_hash, created=now()
                )
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
        """The delivery ``delivery_id`` of the repository, or None."""
        with self.db.session() as s:
            row = s.scalar(
                select(HookDeliveryRow).where(
                    HookDeliveryRow.repo_id == repo_id, HookDeliveryRow.delivery_id == delivery_id
                )
            )
            return to_record(HookDelivery, row) if row else None

    def earlier(self, repo_id: int, delivery_id: str, body_hash: str) -> HookDelivery | None:
        """The first delivery a replay repeats: the one with this id, else with this body."""
        conditions = [HookDeliveryRow.delivery_id == delivery_id]
        if body_hash:
            conditions.append(HookDeliveryRow.body_hash == body_hash)
        with self.db.session() as s:
            rows = s.scalars(
                select(HookDeliveryRow)
                .where(HookDeliveryRow.repo_id == repo_id, or_(*conditions))
                .order_by(HookDeliveryRow.id)
            ).all()
        same_id = [r for r in rows if r.delivery_id == delivery_id]
        found = same_id or rows
        return to_record(HookDelivery, found[0]) if found else None

    def purge_before(self, when: float) -> int:
        """Forget deliveries older than ``when``; a body older than that would build again."""
        with self.db.write() as s:
            return affected(
                s.execute(delete(HookDeliveryRow).where(HookDeliveryRow.created < when))
            )
