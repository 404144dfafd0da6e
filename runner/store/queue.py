"""The queue: pending stages claimed atomically by agents, leases, requeue and stage ends."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import delete, select, update
from sqlalchemy.orm import defer

from runner.core import (
    BLOCKED,
    DONE_STATUSES,
    ERROR,
    KILLED,
    PENDING,
    RUNNING,
    SKIPPED,
    WAITING,
    Agent,
    Build,
    Stage,
    Step,
)
from runner.errors import BadRequest, NotFound
from runner.labels import matches, split_agent_labels
from runner.store import progress
from runner.store.builds import load_stages
from runner.store.convert import now as time_now
from runner.store.convert import to_record
from runner.store.db import Database
from runner.store.gates import ClaimGates
from runner.store.models import BuildRow, LogChunkRow, StageRow, StepRow

# Answers of ``renew_lease``.
LEASE_OK = "ok"
LEASE_CANCEL = "cancel"  # the build was cancelled: stop the stage and report it killed
LEASE_LOST = "lost"  # the stage is no longer this agent's (requeued, failed, done)

# Pending stages examined per round trip while looking for one an agent may take.
_SCAN = 200


class StageStore:
    """Stages of builds, and the queue agents pull from. Thread-safe, safe across processes.

    Claiming is atomic on both databases: a conditional ``UPDATE … WHERE status='pending'``
    inside a write transaction (SQLite holds the write lock; PostgreSQL skips rows another
    claimer has locked with ``FOR UPDATE SKIP LOCKED``), so no stage is ever handed out twice.
    """

    def __init__(self, db: Database):
        self.db = db

    def get(self, stage_id: int) -> Stage:
        """The stage with its steps; raises ``NotFound``."""
        with self.db.session() as s:
            row = s.get(StageRow, stage_id)
            if row is None:
                raise NotFound(f"no stage with id {stage_id}")
            return _one(s, row)

    def list(self, build_id: int) -> list[Stage]:
        with self.db.session() as s:
            return load_stages(s, [build_id]).get(build_id, [])

    def pending(self) -> list[Stage]:
        """Stages waiting in the queue (for showing what no agent has taken), oldest first."""
        with self.db.session() as s:
            rows = s.scalars(
                select(StageRow).where(StageRow.status == PENDING).order_by(StageRow.id)
            ).all()
            return [to_record(Stage, r) for r in rows]

    def running_for(self, agent_id: int) -> list[Stage]:
        """Stages the agent holds now."""
        with self.db.session() as s:
            rows = s.scalars(
                select(StageRow)
                .where(StageRow.agent_id == agent_id, StageRow.status == RUNNING)
                .order_by(StageRow.id)
            ).all()
            return [_one(s, r) for r in rows]

    def claim(
        self, agent: Agent, *, lease_seconds: float = 30, now: float | None = None
    ) -> Stage | None:
        """Hand the oldest stage this agent may run to it, or None when there is none.

        A stage may run when it is pending, every stage it depends on has ended in a way its
        run policy accepts, and its labels fit the agent's (``runner.labels.matches``). The
        stage becomes running with a lease until ``now + lease_seconds``; its build becomes
        running too.
        """
        offered, required = split_agent_labels(agent.labels)
        stamp = time_now() if now is None else now
        # A read first: an idle long-poll must not queue for SQLite's write lock behind log
        # uploads just to learn there is nothing to do.
        with self.db.session() as s:
            if next(self._runnable(s, offered, required), None) is None:
                return None
        with self.db.write() as s:
            for row in self._runnable(s, offered, required):
                if not ClaimGates(s, [row], offered, required).take_lock(s, row):
                    continue
                if self._take(s, row.id, agent.id, stamp, lease_seconds):
                    s.execute(
                        update(BuildRow)
                        .where(BuildRow.id == row.build_id, BuildRow.status == PENDING)
                        .values(status=RUNNING, started=stamp)
                    )
                    s.refresh(row)
                    return _one(s, row)
            return None

    def _runnable(self, s, offered: dict, required: dict) -> Iterator[StageRow]:
        """Pending stages, oldest first, that fit the labels and whose dependencies allow."""
        after = 0
        while True:
            rows = s.scalars(
                select(StageRow)
                .options(defer(StageRow.spec))  # decoding every spec made a claim cost ~30 ms
                .where(StageRow.status == PENDING, StageRow.id > after)
                .order_by(StageRow.id)
                .limit(_SCAN)
            ).all()
            if not rows:
                return
            after = rows[-1].id
            fitting = [r for r in rows if matches(r.labels or {}, offered, required)]
            gates = ClaimGates(s, fitting, offered, required)
            fitting = [r for r in fitting if gates.allows(r)]
            siblings = self._siblings(s, [r for r in fitting if r.depends_on])
            for row in fitting:
                if row.depends_on:
                    by_name = siblings.get(row.build_id, {})
                    if progress.readiness(row, by_name) != progress.RUN:
                        continue
                yield row

    def _take(self, s, stage_id: int, agent_id: int, stamp: float, lease: float) -> bool:
        target = StageRow.id == stage_id
        if self.db.is_postgres:
            locked = (
                select(StageRow.id)
                .where(StageRow.id == stage_id, StageRow.status == PENDING)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            target = StageRow.id == locked
        result = s.execute(
            update(StageRow)
            .where(target, StageRow.status == PENDING)
            .values(
                status=RUNNING,
                agent_id=agent_id,
                lease_until=stamp + lease,
                attempts=StageRow.attempts + 1,
                started=stamp,
                cancel_requested=False,
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    @staticmethod
    def _siblings(s, rows: list[StageRow]) -> dict[int, dict[str, StageRow]]:
        build_ids = {r.build_id for r in rows}
        if not build_ids:
            return {}
        out: dict[int, dict[str, StageRow]] = {}
        siblings = select(StageRow).options(defer(StageRow.spec))
        for row in s.scalars(siblings.where(StageRow.build_id.in_(build_ids))):
            out.setdefault(row.build_id, {})[row.name] = row
        return out

    def renew_lease(
        self, stage_id: int, agent_id: int, *, lease_seconds: float = 30, now: float | None = None
    ) -> str:
        """Extend the agent's lease on a running stage.

        Returns ``LEASE_OK``, ``LEASE_CANCEL`` (lease extended, but the build was cancelled:
        stop and report the stage killed) or ``LEASE_LOST`` (not this agent's stage any more:
        stop without reporting).
        """
        stamp = time_now() if now is None else now
        with self.db.write() as s:
            result = s.execute(
                update(StageRow)
                .where(
                    StageRow.id == stage_id,
                    StageRow.agent_id == agent_id,
                    StageRow.status == RUNNING,
                )
                .values(lease_until=stamp + lease_seconds)
            )
            if result.rowcount == 0:
                return LEASE_LOST
            cancel = s.scalar(select(StageRow.cancel_requested).where(StageRow.id == stage_id))
            return LEASE_CANCEL if cancel else LEASE_OK

    def expired(self, now: float | None = None) -> list[Stage]:
        """Running stages whose lease ended before ``now`` (their agent went silent)."""
        stamp = time_now() if now is None else now
        with self.db.session() as s:
            rows = s.scalars(
                select(StageRow)
                .where(StageRow.status == RUNNING, StageRow.lease_until < stamp)
                .order_by(StageRow.id)
            ).all()
            return [to_record(Stage, r) for r in rows]

    def requeue(self, stage_id: int, reason: str, *, actor: str = "") -> bool:
        """Put a running stage back in the queue, as if never started; False if not running.

        Its steps return to pending and their logs are dropped (the next agent sends them again
        from sequence 0). The reason goes into the build's history.
        """
        stamp = time_now()
        with self.db.write() as s:
            row = s.get(StageRow, stage_id)
            if row is None or row.status != RUNNING:
                return False
            row.status = PENDING
            row.agent_id = None
            row.lease_until = 0.0
            row.started = 0.0
            row.cancel_requested = False
            step_ids = select(StepRow.id).where(StepRow.stage_id == stage_id)
            s.execute(delete(LogChunkRow).where(LogChunkRow.step_id.in_(step_ids)))
            s.execute(
                update(StepRow)
                .where(StepRow.stage_id == stage_id)
                .values(
                    status=PENDING,
                    exit_code=0,
                    error="",
                    started=0.0,
                    finished=0.0,
                    log_bytes=0,
                    log_cut_bytes=0,
                )
            )
            progress.record(
                s,
                row.build_id,
                "requeued",
                f"requeued: {reason}",
                actor=actor,
                stage_id=stage_id,
                now=stamp,
            )
            return True

    def fail(self, stage_id: int, reason: str, *, actor: str = "") -> Build | None:
        """End a stage in error with ``reason`` (e.g. its agent was lost); None if already done.

        Running steps become killed and pending ones skipped; dependents and the build follow.
        """
        stamp = time_now()
        with self.db.write() as s:
            row = s.get(StageRow, stage_id)
            if row is None or row.status in DONE_STATUSES:
                return None
            row.status = ERROR
            row.error = reason
            row.finished = stamp
            self._close_steps(s, stage_id, stamp)
            progress.record(
                s,
                row.build_id,
                "failed",
                f"failed: {reason}",
                actor=actor,
                stage_id=stage_id,
                now=stamp,
            )
            s.flush()
            progress.settle(s, row.build_id, stamp)
            return _build(s, row.build_id)

    def done(
        self,
        stage_id: int,
        status: str,
        *,
        error: str = "",
        agent_id: int | None = None,
        now: float | None = None,
    ) -> Build:
        """Record that a stage ended with ``status``; returns its build afterwards.

        Steps still pending are marked skipped (running ones killed). Stages depending on this
        one are skipped when it failed and their policy wants success; the build's status is
        derived once every stage is done. With ``agent_id``, raises ``NotFound`` unless that
        agent holds the stage (a stale agent cannot end a requeued stage).
        """
        if status not in DONE_STATUSES:
            raise BadRequest(
                f"{status!r} is not a final status: use one of " + ", ".join(sorted(DONE_STATUSES))
            )
        stamp = time_now() if now is None else now
        with self.db.write() as s:
            row = s.get(StageRow, stage_id)
            if row is None or (agent_id is not None and row.agent_id != agent_id):
                raise NotFound(f"stage {stage_id} is not held by this agent")
            if row.status not in DONE_STATUSES:
                row.status = status
                row.error = error
                row.finished = stamp
                row.started = row.started or stamp
                self._close_steps(s, stage_id, stamp)
                s.flush()
                progress.settle(s, row.build_id, stamp)
            return _build(s, row.build_id)

    def block(self, stage_ids: list[int]) -> None:
        """Hold pending stages back until someone approves the build (``BuildStore.approve``)."""
        with self.db.write() as s:
            s.execute(
                update(StageRow)
                .where(StageRow.id.in_(stage_ids), StageRow.status.in_([PENDING, WAITING]))
                .values(status=BLOCKED)
            )

    @staticmethod
    def _close_steps(s, stage_id: int, stamp: float) -> None:
        s.execute(
            update(StepRow)
            .where(StepRow.stage_id == stage_id, StepRow.status == RUNNING)
            .values(status=KILLED, finished=stamp)
        )
        s.execute(
            update(StepRow)
            .where(StepRow.stage_id == stage_id, StepRow.status == PENDING)
            .values(status=SKIPPED)
        )


def _one(s, row: StageRow) -> Stage:
    steps = s.scalars(
        select(StepRow).where(StepRow.stage_id == row.id).order_by(StepRow.number, StepRow.id)
    )
    return to_record(Stage, row, steps=[to_record(Step, r) for r in steps])


def _build(s, build_id: int) -> Build:
    row = s.get(BuildRow, build_id)
    s.refresh(row)
    return to_record(Build, row, stages=load_stages(s, [build_id]).get(build_id, []))
