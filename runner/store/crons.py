"""Cron entries of repositories (run by the server's scheduler)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from runner.core import Cron
from runner.errors import BadRequest, Conflict, NotFound
from runner.store.convert import affected, now, to_record
from runner.store.db import Database
from runner.store.models import CronRow


class CronStore:
    """Cron jobs by id or (repository, name). Thread-safe."""

    def __init__(self, db: Database):
        self.db = db

    def create(self, repo_id: int, name: str, schedule: str, branch: str = "") -> Cron:
        """Add a cron job; raises ``Conflict`` when the repository has one of that name."""
        if not name.strip() or not schedule.strip():
            raise BadRequest("a cron job needs a name and a schedule such as '0 3 * * *'")
        row = CronRow(
            repo_id=repo_id,
            name=name.strip(),
            schedule=schedule.strip(),
            branch=branch,
            created=now(),
        )
        try:
            with self.db.write() as s:
                s.add(row)
                s.flush()
                return to_record(Cron, row)
        except IntegrityError:
            raise Conflict(f"cron job {name!r} exists already in this repository") from None

    def get(self, cron_id: int) -> Cron:
        with self.db.session() as s:
            row = s.get(CronRow, cron_id)
            if row is None:
                raise NotFound(f"no cron job with id {cron_id}")
            return to_record(Cron, row)

    def find(self, repo_id: int, name: str) -> Cron | None:
        with self.db.session() as s:
            row = s.scalar(select(CronRow).where(CronRow.repo_id == repo_id, CronRow.name == name))
            return to_record(Cron, row) if row else None

    def matching(self, repo_id: int | None = None, *, enabled_only: bool = False) -> list[Cron]:
        """Cron jobs of a repository (or all), by repository and name."""
        with self.db.session() as s:
            query = select(CronRow).order_by(CronRow.repo_id, CronRow.name)
            if repo_id is not None:
                query = query.where(CronRow.repo_id == repo_id)
            if enabled_only:
                query = query.where(CronRow.enabled.is_(True))
            return [to_record(Cron, r) for r in s.scalars(query)]

    def update(self, cron_id: int, **fields: Any) -> Cron:
        """Change schedule, branch or enabled."""
        unknown = set(fields) - {"schedule", "branch", "enabled"}
        if unknown:
            raise BadRequest(f"cannot change {', '.join(sorted(unknown))} of a cron job")
        return self._set(cron_id, **fields)

    def mark_run(self, cron_id: int, when: float | None = None) -> Cron:
        """Record that the job fired (shown to users; the scheduler keeps its own timing)."""
        return self._set(cron_id, last_run=now() if when is None else when)

    def claim_run(self, cron_id: int, seen_last_run: float, when: float) -> bool:
        """Move ``last_run`` from ``seen_last_run`` (what the caller read) to ``when``; False
        when another scheduler moved it first, so a due job fires once across processes."""
        with self.db.write() as s:
            result = s.execute(
                update(CronRow)
                .where(CronRow.id == cron_id, CronRow.last_run == seen_last_run)
                .values(last_run=when)
            )
            return affected(result) == 1

    def delete(self, cron_id: int) -> None:
        with self.db.write() as s:
            if affected(s.execute(delete(CronRow).where(CronRow.id == cron_id))) == 0:
                raise NotFound(f"no cron job with id {cron_id}")

    def _set(self, cron_id: int, **fields: Any) -> Cron:
        with self.db.write() as s:
            if fields:
                s.execute(update(CronRow).where(CronRow.id == cron_id).values(**fields))
            row = s.get(CronRow, cron_id)
            if row is None:
                raise NotFound(f"no cron job with id {cron_id}")
            s.refresh(row)
            return to_record(Cron, row)
