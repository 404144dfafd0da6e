"""Agents known to the server: their registered labels, capacity and scope, what they last
announced, and their last contact."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from runner.core import Agent
from runner.errors import BadRequest, Conflict, NotFound
from runner.store.convert import affected, now, select_by_id, to_record
from runner.store.db import Database
from runner.store.models import AgentRow

UPDATABLE = frozenset(
    {
        "labels",
        "capacity",
        "allowed_repos",
        "allowed_environments",
        "declared_labels",
        "version",
        "platform",
        "last_contact",
        "running",
        "unhealthy",
    }
)


class AgentStore:
    """Agents by id or name. Thread-safe."""

    def __init__(self, db: Database):
        self.db = db

    def create(
        self,
        name: str,
        *,
        labels: dict[str, str] | None = None,
        capacity: int = 1,
        allowed_repos: list[str] | None = None,
        allowed_environments: list[str] | None = None,
    ) -> Agent:
        """Register an agent; raises ``Conflict`` when the name is taken."""
        if not name.strip():
            raise BadRequest("an agent needs a name")
        row = AgentRow(
            name=name.strip(),
            labels=dict(labels or {}),
            capacity=capacity,
            allowed_repos=list(allowed_repos or []),
            allowed_environments=list(allowed_environments or []),
            created=now(),
        )
        try:
            with self.db.write() as s:
                s.add(row)
                s.flush()
                return to_record(Agent, row)
        except IntegrityError:
            raise Conflict(f"agent {name!r} exists already: pick another name") from None

    def get(self, agent_id: int) -> Agent:
        row = self.db.first(select_by_id(AgentRow.__table__), {"p_id": agent_id})
        if row is None:
            raise NotFound(f"no agent with id {agent_id}")
        return to_record(Agent, row)

    def find(self, name: str) -> Agent | None:
        with self.db.session() as s:
            row = s.scalar(select(AgentRow).where(AgentRow.name == name))
            return to_record(Agent, row) if row else None

    def names(self, agent_ids: list[int]) -> dict[int, str]:
        """The names of the agents of ``agent_ids`` by id; ids of removed agents are left out."""
        if not agent_ids:
            return {}
        with self.db.session() as s:
            rows = s.execute(
                select(AgentRow.id, AgentRow.name).where(AgentRow.id.in_(set(agent_ids)))
            )
            return {row.id: row.name for row in rows}

    def all_agents(self) -> list[Agent]:
        with self.db.session() as s:
            return [
                to_record(Agent, r) for r in s.scalars(select(AgentRow).order_by(AgentRow.name))
            ]

    def update(self, agent_id: int, **fields: Any) -> Agent:
        """Set any of ``UPDATABLE``: the registration (labels, capacity, allowed_repos,
        allowed_environments) is changed through ``runner.server.agents``, which records it."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise BadRequest(f"cannot change {', '.join(sorted(unknown))} of an agent")
        with self.db.write() as s:
            if fields:
                s.execute(update(AgentRow).where(AgentRow.id == agent_id).values(**fields))
            row = s.get(AgentRow, agent_id)
            if row is None:
                raise NotFound(f"no agent with id {agent_id}")
            s.refresh(row)
            return to_record(Agent, row)

    def touch(self, agent_id: int, **fields: Any) -> Agent:
        """Record a contact from the agent now (heartbeat, claim), with any changed fields."""
        return self.update(agent_id, last_contact=now(), **fields)

    def delete(self, agent_id: int) -> None:
        with self.db.write() as s:
            if affected(s.execute(delete(AgentRow).where(AgentRow.id == agent_id))) == 0:
                raise NotFound(f"no agent with id {agent_id}")
