"""Counts for the metrics endpoint and the readiness probe: one grouped query per family.

Nothing here reads a row per build or per stage: builds and stages are counted by status from
their status indexes, the queue is grouped by label set, and the agents' load is grouped by
agent. The metrics endpoint calls these at scrape time (``runner.server.metrics_census``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from sqlalchemy import String, Table, func, select, text
from sqlalchemy import cast as sql_cast

from runner.core import PENDING, RUNNING
from runner.store.db import Database
from runner.store.models import AgentRow, BuildRow, StageRow

_builds = cast(Table, BuildRow.__table__)
_stages = cast(Table, StageRow.__table__)
_agents = cast(Table, AgentRow.__table__)

# PostgreSQL's JSON type has no equality: the label sets are grouped by their text, which is
# the same for the same labels (the store writes them all through one JSON encoder).
_LABEL_TEXT = sql_cast(_stages.c.labels, String)

_BUILDS_BY_STATUS = select(_builds.c.status, func.count()).group_by(_builds.c.status)
_STAGES_BY_STATUS = select(_stages.c.status, func.count()).group_by(_stages.c.status)
_QUEUE = (
    select(_LABEL_TEXT, func.count(), func.min(_stages.c.created))
    .where(_stages.c.status == PENDING)
    .group_by(_LABEL_TEXT)
)
_RUNNING_BY_AGENT = (
    select(_stages.c.agent_id, func.count().label("running"))
    .where(_stages.c.status == RUNNING)
    .group_by(_stages.c.agent_id)
    .subquery()
)
_AGENT_LOAD = select(
    _agents.c.name,
    _agents.c.capacity,
    _agents.c.unhealthy,
    _agents.c.last_contact,
    func.coalesce(_RUNNING_BY_AGENT.c.running, 0),
).outerjoin(_RUNNING_BY_AGENT, _RUNNING_BY_AGENT.c.agent_id == _agents.c.id)
_REVISION = text("SELECT version_num FROM alembic_version")


@dataclass(frozen=True)
class QueuedLabels:
    """Pending stages of one label set: how many, and when the oldest of them was queued."""

    labels: dict[str, str]
    count: int
    oldest_created: float


@dataclass(frozen=True)
class AgentLoad:
    """A registered agent's capacity, the stages it runs now and its last contact."""

    name: str
    capacity: int
    running: int
    healthy: bool
    last_contact: float


class CensusStore:
    """Grouped counts of builds, stages, the queue and the agents. Thread-safe."""

    def __init__(self, db: Database):
        self.db = db

    def builds_by_status(self) -> dict[str, int]:
        """How many builds there are of each status."""
        with self.db.read_connection() as c:
            return {status: count for status, count in c.execute(_BUILDS_BY_STATUS)}

    def stages_by_status(self) -> dict[str, int]:
        """How many stages there are of each status."""
        with self.db.read_connection() as c:
            return {status: count for status, count in c.execute(_STAGES_BY_STATUS)}

    def queue(self) -> list[QueuedLabels]:
        """Pending stages grouped by their label set, largest group first."""
        with self.db.read_connection() as c:
            rows = c.execute(_QUEUE).all()
        groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
        for raw, count, oldest in rows:
            key = tuple(sorted(_labels(raw).items()))
            count_and_oldest = groups.setdefault(key, [0, float(oldest or 0.0)])
            count_and_oldest[0] += count
            count_and_oldest[1] = min(count_and_oldest[1], float(oldest or 0.0))
        found = [QueuedLabels(dict(k), int(v[0]), v[1]) for k, v in groups.items()]
        return sorted(found, key=lambda q: (-q.count, q.oldest_created))

    def agent_load(self) -> list[AgentLoad]:
        """Every registered agent with the stages it runs now, by name."""
        with self.db.read_connection() as c:
            rows = c.execute(_AGENT_LOAD).all()
        loads = [
            AgentLoad(name, capacity, int(running), not unhealthy, float(contact or 0.0))
            for name, capacity, unhealthy, contact, running in rows
        ]
        return sorted(loads, key=lambda a: a.name)

    def revision(self) -> str | None:
        """The migration revision the database is at (None when it has none): one trivial
        query that reads the database itself, for the readiness probe."""
        with self.db.read_connection() as c:
            return c.execute(_REVISION).scalar()


def _labels(raw: object) -> dict[str, str]:
    """A label set as stored (JSON text, or already decoded), as a mapping of strings."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items()}
