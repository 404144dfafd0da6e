"""Stages of builds and the queue agents pull from: atomic claims, leases, requeue, stage ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, CursorResult, Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

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
from runner.globs import matches_any
from runner.labels import matches, split_agent_labels
from runner.pipeline.readiness import RUN, readiness
from runner.store import deployments, progress
from runner.store.builds import load_stages
from runner.store.convert import now as time_now
from runner.store.convert import to_record
from runner.store.db import Database
from runner.store.gates import agent_scope, in_scope, lock_free, take_lock
from runner.store.models import BuildRow, LogChunkRow, RepoRow, StageRow, StepRow

# Answers of ``renew_lease``.
LEASE_OK = "ok"
LEASE_CANCEL = "cancel"  # the build was cancelled: stop the stage and report it killed
LEASE_LOST = "lost"  # the stage is no longer this agent's (requeued, failed, done)

# Pending stages read per round trip while looking for one an agent may take: a first page
# small enough that a busy queue costs little, doubling up to the most per query.
_FIRST_PAGE = 8
_MAX_PAGE = 512
# Candidates a claim picks in its read; the write takes the first one no other claimer took
# (claimers of this process take turns, so the first is nearly always still there).
_PICK = 8

# The claim path runs once per claim and per agent RPC: its statements are built once, with
# bound parameters, and run on Core connections (building a statement and an ORM session's
# bookkeeping cost more than the SQL itself).
_stages = cast(Table, StageRow.__table__)
_steps = cast(Table, StepRow.__table__)
_builds = cast(Table, BuildRow.__table__)
_repos = cast(Table, RepoRow.__table__)

_PENDING_PAGE = (
    select(
        _stages.c.id,
        _stages.c.build_id,
        _stages.c.labels,
        _stages.c.depends_on,
        _builds.c.repo_id,
        _builds.c.target,
        _builds.c.event,
        _repos.c.slug,
    )
    .join(_builds, _builds.c.id == _stages.c.build_id)
    .join(_repos, _repos.c.id == _builds.c.repo_id)
    .where(_stages.c.status == PENDING, _stages.c.id > bindparam("p_after"), lock_free())
    .order_by(_stages.c.id)
    .limit(bindparam("p_page"))
)
_STILL_PENDING = select(_stages.c.id).where(
    _stages.c.id.in_(bindparam("p_ids", expanding=True)), _stages.c.status == PENDING
)
_RUN_POLICIES = select(_stages.c.id, _stages.c.spec["run_policy"].as_string()).where(
    _stages.c.id.in_(bindparam("p_ids", expanding=True))
)
_SIBLING_STATUSES = select(_stages.c.build_id, _stages.c.name, _stages.c.status).where(
    _stages.c.build_id.in_(bindparam("p_ids", expanding=True))
)
_TAKEN = dict(
    status=RUNNING,
    agent_id=bindparam("p_agent"),
    lease_until=bindparam("p_lease_until"),
    attempts=_stages.c.attempts + 1,
    started=bindparam("p_stamp"),
    cancel_requested=False,
)
_TAKE = (
    update(_stages)
    .where(_stages.c.id == bindparam("p_stage"), _stages.c.status == PENDING)
    .values(**_TAKEN)
)
# PostgreSQL: a row another claimer's transaction holds is skipped, not waited for.
_TAKE_SKIP_LOCKED = (
    update(_stages)
    .where(
        _stages.c.id
        == select(_stages.c.id)
        .where(_stages.c.id == bindparam("p_stage"), _stages.c.status == PENDING)
        .with_for_update(skip_locked=True)
        .scalar_subquery(),
        _stages.c.status == PENDING,
    )
    .values(**_TAKEN)
)
_START_BUILD = (
    update(_builds)
    .where(_builds.c.id == bindparam("p_build"), _builds.c.status == PENDING)
    .values(status=RUNNING, started=bindparam("p_stamp"))
)
# All running stages are counted from the status index alone; one agent's need each row read
# (there is no index on agent_id), so they are counted only when the first count says the agent
# could be at its capacity.
_RUNNING_TOTAL = select(func.count()).select_from(_stages).where(_stages.c.status == RUNNING)
_RUNNING_COUNT = (
    select(func.count())
    .select_from(_stages)
    .where(_stages.c.agent_id == bindparam("p_agent"), _stages.c.status == RUNNING)
)
_RELEASE = (
    update(_stages)
    .where(
        _stages.c.id == bindparam("p_stage"),
        _stages.c.agent_id == bindparam("p_agent"),
        _stages.c.status == RUNNING,
    )
    .values(
        status=PENDING,
        agent_id=None,
        lease_until=0.0,
        started=0.0,
        attempts=_stages.c.attempts - 1,
    )
)
_STAGE = select(_stages).where(_stages.c.id == bindparam("p_stage"))
_STAGE_STEPS = (
    select(_steps)
    .where(_steps.c.stage_id == bindparam("p_stage"))
    .order_by(_steps.c.number, _steps.c.id)
)


class RunningStage(NamedTuple):
    """A running stage as the server's timeout watch reads it."""

    id: int
    started: float
    timeout: int  # seconds: its repository's timeout, 0 for none


_RUNNING_CLOCKS = (
    select(_stages.c.id, _stages.c.started, _repos.c.timeout)
    .join(_builds, _builds.c.id == _stages.c.build_id)
    .join(_repos, _repos.c.id == _builds.c.repo_id)
    .where(_stages.c.status == RUNNING)
    .order_by(_stages.c.id)
)


class _Candidate(NamedTuple):
    """A pending stage an agent may take, with what taking its deploy lock needs."""

    id: int
    build_id: int
    repo_id: int
    target: str


class _Fit(NamedTuple):
    """What an agent may take: its labels (offered, required) and the repositories (slug
    globs) and environments it is restricted to (empty: any)."""

    offered: dict[str, str]
    required: dict[str, str]
    repos: list[str]
    environments: list[str]

    def allows(self, slug: str, target: str) -> bool:
        """Whether a build of ``slug`` deploying to ``target`` ("" for none) fits the
        restrictions; an agent restricted to environments takes only deploys to them."""
        if self.repos and not matches_any(slug, self.repos):
            return False
        return not self.environments or target in self.environments


class StageStore:
    """Stages of builds, and the queue agents pull from. Thread-safe, safe across processes.

    Claiming is atomic on both databases: a conditional ``UPDATE … WHERE status='pending'``
    inside a write transaction (SQLite holds the write lock; PostgreSQL skips rows another
    claimer has locked with ``FOR UPDATE SKIP LOCKED``), so no stage is ever handed out twice.
    """

    def __init__(self, db: Database):
        self.db = db
        # SQLite lets one writer in at a time and makes the others poll for the lock with
        # growing sleeps; claimers of this process queue on a lock of their own instead and
        # are let in the moment the previous claim commits. (Other processes still meet at
        # SQLite's lock; PostgreSQL claimers skip each other's rows and need no queue.)
        self._claiming = nullcontext() if db.is_postgres else threading.Lock()

    def get(self, stage_id: int) -> Stage:
        """The stage with its steps; raises ``NotFound``."""
        with self.db.read_connection() as c:
            stage = _stage_with_steps(c, stage_id)
        if stage is None:
            raise NotFound(f"no stage with id {stage_id}")
        return stage

    def pending(self) -> list[Stage]:
        """Stages waiting in the queue (for showing what no agent has taken), oldest first."""
        with self.db.session() as s:
            rows = s.scalars(
                select(StageRow).where(StageRow.status == PENDING).order_by(StageRow.id)
            ).all()
            return [to_record(Stage, r) for r in rows]

    def running_for(self, agent_id: int) -> list[Stage]:
        """Stages the agent holds now."""
        with self.db.read_connection() as c:
            ids = c.scalars(
                select(StageRow.id)
                .where(StageRow.agent_id == agent_id, StageRow.status == RUNNING)
                .order_by(StageRow.id)
            ).all()
            return [stage for stage_id in ids if (stage := _stage_with_steps(c, stage_id))]

    def claim(
        self,
        agent: Agent,
        *,
        lease_seconds: float = 30,
        now: float | None = None,
        capacity: int | None = None,
    ) -> Stage | None:
        """Hand the oldest stage this agent may run to it, or None when there is none.

        A stage may run when it is pending, every stage it depends on has ended in a way its
        run policy accepts, its labels fit the agent's (``runner.labels.matches``) and its
        build fits the agent's ``allowed_repos`` and ``allowed_environments``. With
        ``capacity``, an agent already running that many stages gets none (checked in the
        write, so concurrent claims of one agent cannot pass it). The stage becomes running
        with a lease until ``now + lease_seconds``; its build becomes running too.
        """
        fit = _Fit(
            *split_agent_labels(agent.labels), agent.allowed_repos, agent.allowed_environments
        )
        stamp = time_now() if now is None else now
        # Candidates are picked in a read first: an idle long-poll must not queue for SQLite's
        # write lock behind log uploads just to learn there is nothing to do, and the write
        # transaction then only has to take one. Claimers of this process take turns through
        # the whole claim on SQLite (whose writes are one at a time anyway): twenty claimers
        # interleaving there only fought over the GIL and each other's candidates.
        with self._claiming:
            with self.db.read_connection() as c:
                picked = list(islice(self._runnable(c, fit), _PICK))
            if not picked:
                return None
            with self.db.write_connection() as c:
                if capacity is not None and self._at_capacity(c, agent.id, capacity):
                    return None
                taken = self._take_first(c, picked, fit, agent.id, stamp, lease_seconds)
            if taken is None:
                return None
            # Read after the commit: the write lock is held no longer than the claim needs.
            with self.db.read_connection() as c:
                stage = _stage_with_steps(c, taken, ClaimedStage)
                if isinstance(stage, ClaimedStage):  # what the payload's variables need
                    stage.build_statuses = _build_statuses(c, stage.build_id)
                return stage

    def _take_first(
        self,
        s: Connection,
        picked: list[_Candidate],
        fit: _Fit,
        agent_id: int,
        stamp: float,
        lease: float,
    ) -> int | None:
        """Inside the write transaction: take the first picked stage still pending, else the
        first runnable one now; its id, or None."""
        # Whatever was runnable in the read still is while pending (dependencies only end,
        # scope and labels do not change); only another claimer may have been faster.
        pending = set(s.scalars(_STILL_PENDING, {"p_ids": [c.id for c in picked]}))
        # Every candidate may have gone to faster claimers: then look again inside the write
        # transaction, where the view of the queue is current.
        fresh = (c for c in picked if c.id in pending)
        for found in chain(fresh, self._runnable(s, fit)):
            if self._take(s, found, agent_id, stamp, lease):
                s.execute(_START_BUILD, {"p_build": found.build_id, "p_stamp": stamp})
                deployments.on_claim(s, found.build_id, agent_id, stamp)
                return found.id
        return None

    def _runnable(self, s: Connection, fit: _Fit) -> Iterator[_Candidate]:
        """Pending stages, oldest first, that fit the labels, the agent's scope and the deploy
        locks, and whose dependencies allow them to run.

        SQL does the ordering and the lock check and reads only the columns needed (never a
        spec: only its run policy); labels, scope globs and dependencies are checked here.
        """
        offered, required = fit.offered, fit.required
        scope = agent_scope(offered, required)
        after, page = 0, _FIRST_PAGE
        while True:
            rows = s.execute(_PENDING_PAGE, {"p_after": after, "p_page": page}).all()
            if not rows:
                return
            after, page = rows[-1].id, min(page * 2, _MAX_PAGE)
            fitting = [
                r
                for r in rows
                if matches(r.labels or {}, offered, required)
                and in_scope(scope, r.slug, r.event)
                and fit.allows(r.slug, r.target or "")
            ]
            waiting = [r for r in fitting if r.depends_on]
            statuses = self._sibling_statuses(s, {r.build_id for r in waiting})
            policies = self._run_policies(s, [r.id for r in waiting])
            for r in fitting:
                if r.depends_on:
                    siblings = statuses.get(r.build_id, {})
                    if readiness(r.depends_on, policies.get(r.id) or "", siblings) != RUN:
                        continue
                yield _Candidate(r.id, r.build_id, r.repo_id, r.target or "")

    @staticmethod
    def _at_capacity(s: Connection, agent_id: int, capacity: int) -> bool:
        """Whether the agent runs ``capacity`` stages or more now."""
        if s.execute(_RUNNING_TOTAL).scalar_one() < capacity:
            return False
        running: int = s.execute(_RUNNING_COUNT, {"p_agent": agent_id}).scalar_one()
        return running >= capacity

    def release(self, stage_id: int, agent_id: int) -> bool:
        """Undo a claim whose answer never reached the agent (its connection closed first):
        the stage is pending again as if never claimed, its attempt not counted. A stage whose
        build was cancelled meanwhile ends ``killed`` instead, as in ``requeue``: cancel wins.
        False when the stage is not this agent's running stage any more."""
        stamp = time_now()
        with self.db.write() as s:
            row = _locked_stage(s, stage_id)
            if row is None or row.status != RUNNING or row.agent_id != agent_id:
                return False
            if row.cancel_requested:
                _end_cancelled(s, row, "its claim never reached the agent", "", stamp)
                return True
            released = s.execute(_RELEASE, {"p_stage": stage_id, "p_agent": agent_id})
            return _rowcount(released) == 1

    def _take(
        self, s: Connection, found: _Candidate, agent_id: int, stamp: float, lease: float
    ) -> bool:
        """Make the stage running for the agent if it is still pending and its deploy lock
        (if any) can be taken for its build; False otherwise."""
        if not take_lock(s, found.build_id, found.repo_id, found.target):
            return False
        statement = _TAKE_SKIP_LOCKED if self.db.is_postgres else _TAKE
        params = {
            "p_stage": found.id,
            "p_agent": agent_id,
            "p_lease_until": stamp + lease,
            "p_stamp": stamp,
        }
        return s.execute(statement, params).rowcount == 1

    @staticmethod
    def _run_policies(s: Connection, stage_ids: list[int]) -> dict[int, str]:
        """The run policy of each stage, read out of its spec by the database: decoding whole
        specs (or having SQLite parse them for every pending row) is what made claims slow."""
        if not stage_ids:
            return {}
        return dict(s.execute(_RUN_POLICIES, {"p_ids": stage_ids}).all())

    def statuses(self, build_id: int) -> dict[str, str]:
        """The status of each stage of the build by name, in stage number order."""
        with self.db.read_connection() as c:
            return _build_statuses(c, build_id)

    @staticmethod
    def _sibling_statuses(s: Connection, build_ids: set[int]) -> dict[int, dict[str, str]]:
        """Per build, the status of each stage by name (what dependencies are judged by)."""
        if not build_ids:
            return {}
        out: dict[int, dict[str, str]] = {}
        for build_id, name, status in s.execute(_SIBLING_STATUSES, {"p_ids": list(build_ids)}):
            out.setdefault(build_id, {})[name] = status
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
            if _rowcount(result) == 0:
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

    def running_clocks(self) -> list[RunningStage]:
        """Every running stage with its start and its repository's timeout (what the server's
        timeout watch needs, without specs)."""
        with self.db.read_connection() as c:
            rows = c.execute(_RUNNING_CLOCKS).all()
        return [RunningStage(*row) for row in rows]

    def cap_leases(self, latest: float) -> int:
        """Cut leases that end after ``latest`` back to it (a backward jump of the wall clock
        made them longer than any agent asked for); how many were cut."""
        with self.db.write_connection() as c:
            return c.execute(
                update(_stages)
                .where(_stages.c.status == RUNNING, _stages.c.lease_until > latest)
                .values(lease_until=latest)
            ).rowcount

    def requeue(self, stage_id: int, reason: str, *, actor: str = "") -> bool:
        """Put a running stage back in the queue, as if never started; False if not running.

        Its steps return to pending and their logs are dropped (the next agent sends them again
        from sequence 0). The reason goes into the build's history. A stage whose build was
        cancelled is never requeued: cancel wins, and the stage ends ``killed`` instead.
        """
        stamp = time_now()
        with self.db.write() as s:
            row = _locked_stage(s, stage_id)
            if row is None or row.status != RUNNING:
                return False
            if row.cancel_requested:
                _end_cancelled(s, row, reason, actor, stamp)
                return True
            row.status = PENDING
            row.agent_id = None
            row.lease_until = 0.0
            row.started = 0.0
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
                reason,
                actor=actor,
                stage_id=stage_id,
                now=stamp,
            )
            return True

    def fail(self, stage_id: int, reason: str, *, actor: str = "") -> Build | None:
        """End a stage in error with ``reason`` (e.g. its agent was lost); None if already done.

        Running steps become killed and pending ones skipped; dependents and the build follow.
        A stage whose build was cancelled ends ``killed`` rather than in error.
        """
        stamp = time_now()
        with self.db.write() as s:
            row = _locked_stage(s, stage_id)
            if row is None or row.status in DONE_STATUSES:
                return None
            if row.cancel_requested:
                _end_cancelled(s, row, reason, actor, stamp)
            else:
                _end(s, row, ERROR, reason, "failed", reason, actor, stamp)
            return _build(s, row.build_id)

    def time_out(self, stage_id: int, reason: str, *, actor: str = "") -> Build | None:
        """End a running stage ``killed`` because it ran past its timeout (its agent did not stop
        it); None unless it was running. The agent learns at its next heartbeat that the stage
        is no longer its own, and stops and removes it."""
        stamp = time_now()
        with self.db.write() as s:
            row = _locked_stage(s, stage_id)
            if row is None or row.status != RUNNING:
                return None
            _end(s, row, KILLED, reason, "timed-out", reason, actor, stamp)
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
    def _close_steps(s: Session, stage_id: int, stamp: float) -> None:
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


def _locked_stage(s: Session, stage_id: int) -> StageRow | None:
    """The stage's row, locked until the transaction ends where the database can (PostgreSQL):
    a cancel and a requeue of the same stage then run one after the other, never interleaved."""
    return s.get(StageRow, stage_id, with_for_update=True)


def _end(
    s: Session,
    row: StageRow,
    status: str,
    error: str,
    kind: str,
    message: str,
    actor: str,
    stamp: float,
) -> None:
    """End a stage the server takes from its agent: steps closed, the history entry written,
    dependents and the build settled, all in the caller's transaction."""
    row.status = status
    row.error = error
    row.finished = stamp
    StageStore._close_steps(s, row.id, stamp)
    progress.record(s, row.build_id, kind, message, actor=actor, stage_id=row.id, now=stamp)
    s.flush()
    progress.settle(s, row.build_id, stamp)


def _end_cancelled(s: Session, row: StageRow, reason: str, actor: str, stamp: float) -> None:
    """A cancelled build's stage whose agent is gone: it ends ``killed``, never runs again."""
    error = f"killed: the build was cancelled and {reason}"
    _end(s, row, KILLED, error, "killed", f"the build was cancelled and {reason}", actor, stamp)


@dataclass
class ClaimedStage(Stage):
    """A stage as ``claim`` hands it out: with the status of each stage of its build by name,
    read with it, for the runtime variables of the claim's payload."""

    build_statuses: dict[str, str] = field(default_factory=dict)


def _stage_with_steps(c: Connection, stage_id: int, kind: type[Stage] = Stage) -> Stage | None:
    """The stage with its steps, read on the Core connection ``c``; None if there is none."""
    row = c.execute(_STAGE, {"p_stage": stage_id}).first()
    if row is None:
        return None
    steps = [to_record(Step, r) for r in c.execute(_STAGE_STEPS, {"p_stage": stage_id})]
    return to_record(kind, row, steps=steps)


def _build_statuses(c: Connection, build_id: int) -> dict[str, str]:
    rows = c.execute(_SIBLING_STATUSES.order_by(_stages.c.number), {"p_ids": [build_id]})
    return {name: status for _build_id, name, status in rows}


def _build(s: Session, build_id: int) -> Build:
    row = s.get(BuildRow, build_id)
    s.refresh(row)
    return to_record(Build, row, stages=load_stages(s, [build_id]).get(build_id, []))


def _rowcount(result: Any) -> int:
    """Rows an UPDATE of an ORM session matched (its result is a ``CursorResult``)."""
    return cast(CursorResult[Any], result).rowcount
