"""Steps of stages: their state as the agent reports it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from runner.core import Step
from runner.errors import BadRequest, NotFound
from runner.store.convert import select_by_id, to_record
from runner.store.db import Database
from runner.store.models import StepRow, table

UPDATABLE = frozenset({"status", "exit_code", "error", "started", "finished"})


class StepStore:
    """Steps by id or stage. Thread-safe."""

    def __init__(self, db: Database):
        self.db = db

    def get(self, step_id: int) -> Step:
        with self.db.session() as s:
            row = s.get(StepRow, step_id)
            if row is None:
                raise NotFound(f"no step with id {step_id}")
            return to_record(Step, row)

    def list_for_stage(self, stage_id: int) -> list[Step]:
        with self.db.session() as s:
            rows = s.scalars(
                select(StepRow).where(StepRow.stage_id == stage_id).order_by(StepRow.number)
            )
            return [to_record(Step, r) for r in rows]

    def find(self, stage_id: int, name: str) -> Step | None:
        """The step of the stage called ``name`` (agents report steps by name)."""
        with self.db.session() as s:
            row = s.scalar(
                select(StepRow).where(StepRow.stage_id == stage_id, StepRow.name == name)
            )
            return to_record(Step, row) if row else None

    def update(self, step_id: int, **fields: Any) -> Step:
        """Set status, exit_code, error, started or finished; returns the step afterwards."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise BadRequest(f"cannot set {', '.join(sorted(unknown))} on a step")
        # Agents report every step twice: a Core write, no ORM session.
        with self.db.write_connection() as c:
            if fields:
                c.execute(update(StepRow).where(StepRow.id == step_id).values(**fields))
            row = c.execute(select_by_id(table(StepRow)), {"p_id": step_id}).first()
        if row is None:
            raise NotFound(f"no step with id {step_id}")
        return to_record(Step, row)
