"""Deploy environments of repositories: which builds go where, approval, deploy lock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from runner.environments import decide_target
from runner.errors import BadRequest, Conflict, NotFound
from runner.store.convert import affected, now, to_record
from runner.store.db import Database
from runner.store.models import EnvironmentRow
from runner.store.records import Environment

UPDATABLE = frozenset(
    {
        "branches",
        "tags",
        "events",
        "labels",
        "approval_required",
        "lock",
        "position",
        "four_eyes",
        "approvals_required",
        "rollback_exempt",
    }
)


class EnvironmentStore:
    """Environments per repository, ordered by ``position``. Thread-safe."""

    def __init__(self, db: Database):
        self.db = db

    def create(self, repo_id: int, name: str, **fields: Any) -> Environment:
        """Add an environment; raises ``Conflict`` when the repository has one of that name."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise BadRequest(f"unknown environment fields: {', '.join(sorted(unknown))}")
        if not name.strip():
            raise BadRequest("an environment needs a name")
        row = EnvironmentRow(repo_id=repo_id, name=name.strip(), created=now(), **fields)
        try:
            with self.db.write() as s:
                s.add(row)
                s.flush()
                return to_record(Environment, row)
        except IntegrityError:
            raise Conflict(f"environment {name!r} exists already in this repository") from None

    def get(self, env_id: int) -> Environment:
        with self.db.session() as s:
            row = s.get(EnvironmentRow, env_id)
            if row is None:
                raise NotFound(f"no environment with id {env_id}")
            return to_record(Environment, row)

    def find(self, repo_id: int, name: str) -> Environment | None:
        with self.db.session() as s:
            row = s.scalar(
                select(EnvironmentRow).where(
                    EnvironmentRow.repo_id == repo_id, EnvironmentRow.name == name
                )
            )
            return to_record(Environment, row) if row else None

    def of_repo(self, repo_id: int) -> list[Environment]:
        with self.db.session() as s:
            rows = s.scalars(
                select(EnvironmentRow)
                .where(EnvironmentRow.repo_id == repo_id)
                .order_by(EnvironmentRow.position, EnvironmentRow.id)
            )
            return [to_record(Environment, r) for r in rows]

    def match(
        self, repo_id: int, *, event: str, branch: str = "", tag: str = ""
    ) -> Environment | None:
        """The first environment (by position) whose patterns the build falls into, or None
        (the rule of ``runner.environments.decide_target``)."""
        found: Environment | None = decide_target(
            self.of_repo(repo_id), event=event, branch=branch, tag=tag
        )
        return found

    def update(self, env_id: int, **fields: Any) -> Environment:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise BadRequest(f"cannot change {', '.join(sorted(unknown))} of an environment")
        with self.db.write() as s:
            if fields:
                s.execute(
                    update(EnvironmentRow).where(EnvironmentRow.id == env_id).values(**fields)
                )
            row = s.get(EnvironmentRow, env_id)
            if row is None:
                raise NotFound(f"no environment with id {env_id}")
            s.refresh(row)
            return to_record(Environment, row)

    def delete(self, env_id: int) -> None:
        with self.db.write() as s:
            if affected(s.execute(delete(EnvironmentRow).where(EnvironmentRow.id == env_id))) == 0:
                raise NotFound(f"no environment with id {env_id}")
