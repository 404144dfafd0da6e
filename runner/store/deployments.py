"""Deployments: one record per build that deploys to an environment, following that build.

A build whose ``target`` is set (an automatic deploy of a push or tag the environment takes, a
promote, a rollback) gets its record in the transaction that creates it; the record then moves
with the build, inside the transactions that move the build, through the helpers below, each
called by one line of the store function concerned:

- ``on_create`` (``BuildStore.create``): ``blocked`` (awaiting approval) or ``pending``; an
  ``error`` build gets none.
- ``on_claim`` (``StageStore.claim``): ``running`` when the build's first stage is claimed, with
  ``started``; the name of the agent that claimed its latest stage.
- ``on_decision`` (``runner.store.decisions.decide``): each approver's login into
  ``approved_by``; ``pending`` once the build is released.
- ``on_settle`` (``runner.store.progress.settle``): at the build's end, ``finished`` and the final
  state (``final_state``); a record that becomes ``live`` supersedes the environment's previous
  ``live`` and ``canary`` records, one that ends ``aborted`` or ``rolled-back`` its ``canary``
  records (the canary is gone). A build that deployed nothing loses its record there: no step
  for the environment (``StepSpec.targets_environment``) and no report, or a successful build
  whose such steps all stayed out; so a tests-only push never takes the place of what is live.
  The record then names the agent that ran the stage with those steps.
  A reported ``canary`` is kept whatever the build's end: the canary serves until a later
  record supersedes it.

Deploy steps report what they did (``runner.deploy_report``); ``DeploymentStore.report`` writes
that into the record of a build still running.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, case, delete, or_, select, update
from sqlalchemy.orm import Session

from runner.core import BLOCKED, DECLINED, ERROR, KILLED, SUCCESS, Build
from runner.store.convert import to_record
from runner.store.db import Database
from runner.store.models import AgentRow, BuildRow, DeploymentRow, StageRow, StepRow, table
from runner.store.records import APPROVED, Deployment

# States of a record. While its build runs: blocked, pending, running, or what a deploy step
# reported. After: live, superseded, failed, cancelled, declined, or a kept report.
STATE_BLOCKED = "blocked"
STATE_PENDING = "pending"
STATE_RUNNING = "running"
STATE_LIVE = "live"
STATE_SUPERSEDED = "superseded"
STATE_FAILED = "failed"
STATE_CANCELLED = "cancelled"
STATE_DECLINED = "declined"
STATE_CANARY = "canary"
STATE_ABORTED = "aborted"
STATE_ROLLED_BACK = "rolled-back"
# A canary whose place a later record took (promoted, aborted, replaced by another canary):
# never ``superseded``, which says the version was live (what a rollback may go back to).
STATE_CANARY_ENDED = "canary-ended"

# What a deploy step reported that a successful build keeps rather than turning it ``live``:
# a canary left running has not made the version live, an abort or a rollback left the old one.
KEPT_AFTER_SUCCESS = frozenset({STATE_CANARY, STATE_ABORTED, STATE_ROLLED_BACK, STATE_FAILED})
# What a build that did not succeed keeps: the live version was left untouched, said precisely;
# or what its deploy step left serving whatever failed after it: a canary (a later step failed
# or the build was cancelled before any aborted it) or the new version itself (a smoke test
# after the deploy failed), until a later record supersedes it.
KEPT_AFTER_FAILURE = frozenset({STATE_LIVE, STATE_CANARY, STATE_ABORTED, STATE_ROLLED_BACK})
KEPT_AFTER_CANCEL = frozenset({STATE_LIVE, STATE_CANARY})

# What a record ending in a state replaces in its environment: a new live version replaces the
# live one and any canary beside it; an abort or a rollback removed the canary a build before
# it may have left running.
SUPERSEDES: dict[str, tuple[str, ...]] = {
    STATE_LIVE: (STATE_LIVE, STATE_CANARY),
    STATE_CANARY: (STATE_CANARY,),  # a new canary replaces the one running
    STATE_ABORTED: (STATE_CANARY,),
    STATE_ROLLED_BACK: (STATE_CANARY,),
}

MAX_PAGE = 100
# Generations of promote/rollback builds ``of_build`` follows from a build (promote, its
# restart, the restart's restart...): enough for any history, bounded for a pathological one.
MAX_DESCENT = 20
DEPLOY_EVENTS = ("promote", "rollback")

_deployments = table(DeploymentRow)
_agents = table(AgentRow)
_first_claim = _deployments.c.state == STATE_PENDING
_CLAIMED = (
    update(_deployments)
    .where(
        _deployments.c.build_id == bindparam("p_build"),
        _deployments.c.finished == 0.0,
        _deployments.c.state != STATE_BLOCKED,
    )
    .values(
        state=case((_first_claim, STATE_RUNNING), else_=_deployments.c.state),
        started=case((_first_claim, bindparam("p_stamp")), else_=_deployments.c.started),
        agent=select(_agents.c.name).where(_agents.c.id == bindparam("p_agent")).scalar_subquery(),
    )
)


def version_of(build: Build | BuildRow) -> str:
    """What a deployment of ``build`` is called: its tag, else ``<branch>@<sha7>``."""
    if build.tag:
        return build.tag
    sha = (build.commit or "")[:7]
    return f"{build.branch}@{sha}" if build.branch else sha


def final_state(build_status: str, current: str) -> str:
    """The state a record in ``current`` takes when its build ends with ``build_status``."""
    if build_status == SUCCESS:
        return current if current in KEPT_AFTER_SUCCESS else STATE_LIVE
    if build_status == KILLED:
        return current if current in KEPT_AFTER_CANCEL else STATE_CANCELLED
    if build_status == DECLINED:
        return STATE_DECLINED
    return current if current in KEPT_AFTER_FAILURE else STATE_FAILED


def on_create(s: Session, build: BuildRow) -> None:
    """In ``BuildStore.create``'s transaction: the record of a new build with a target."""
    if not build.target or build.status == ERROR:
        return
    s.add(
        DeploymentRow(
            repo_id=build.repo_id,
            environment=build.target,
            build_id=build.id,
            build_number=build.number,
            event=build.event,
            commit=build.commit,
            ref=build.ref,
            version=version_of(build)[:300],
            image="",
            strategy="",
            state=STATE_BLOCKED if build.status == BLOCKED else STATE_PENDING,
            traffic_share=None,
            sender=build.sender,
            approved_by=[],
            agent="",
            message="",
            created=build.created,
            started=0.0,
            finished=0.0,
        )
    )


def on_claim(c: Connection, build_id: int, agent_id: int, stamp: float) -> None:
    """In a claim's transaction: the build's first claimed stage makes its record ``running``
    (with ``started``); every claim names the claiming agent, so the record shows the agent of
    the build's latest stage (a pipeline's deploy stage comes last; a requeued stage names the
    agent that took it over)."""
    c.execute(_CLAIMED, {"p_build": build_id, "p_agent": agent_id, "p_stamp": stamp})


def on_decision(s: Session, build_id: int, login: str, decision: str) -> None:
    """In an approval's transaction: an approver joins ``approved_by``; a build released to the
    queue makes its record ``pending``."""
    s.flush()
    build = s.get(BuildRow, build_id)
    for row in s.scalars(select(DeploymentRow).where(DeploymentRow.build_id == build_id)):
        if decision == APPROVED and login not in (row.approved_by or []):
            row.approved_by = [*(row.approved_by or []), login]
        if build is not None and build.status != BLOCKED and row.state == STATE_BLOCKED:
            row.state = STATE_PENDING


def on_settle(s: Session, build: BuildRow, stamp: float) -> None:
    """In the transaction that ends ``build``: its record's final state and ``finished``; the
    environment's earlier records it replaces become ``superseded`` (``SUPERSEDES``)."""
    rows = s.scalars(
        select(DeploymentRow).where(
            DeploymentRow.build_id == build.id, DeploymentRow.finished == 0.0
        )
    ).all()
    if not rows:
        return
    deploys = _deploy_steps(s, build.id)
    for row in rows:
        reported = row.state not in (STATE_BLOCKED, STATE_PENDING, STATE_RUNNING) or bool(
            row.strategy or row.image or row.message or row.traffic_share is not None
        )
        if not reported and not deploys.succeeded and (build.status == SUCCESS or not deploys.any):
            # Nothing was deployed: a pipeline with no step for the environment, or one whose
            # deploy steps all stayed out of a successful build. Not a deployment at all; it
            # must not take the place of what is live.
            s.execute(delete(DeploymentRow).where(DeploymentRow.id == row.id))
            continue
        current = row.state
        if not reported and deploys.succeeded:
            current = STATE_LIVE  # a deploy step without a report succeeded: it deployed
        row.state = final_state(build.status, current)
        row.finished = stamp
        if deploys.agent:
            row.agent = deploys.agent
        replaced = SUPERSEDES.get(row.state)
        if replaced:
            s.execute(
                update(DeploymentRow)
                .where(
                    DeploymentRow.repo_id == row.repo_id,
                    DeploymentRow.environment == row.environment,
                    DeploymentRow.state.in_(replaced),
                    DeploymentRow.finished > 0.0,
                    DeploymentRow.id != row.id,
                )
                .values(
                    state=case(
                        (DeploymentRow.state == STATE_LIVE, STATE_SUPERSEDED),
                        else_=STATE_CANARY_ENDED,
                    )
                )
                .execution_options(synchronize_session=False)
            )


class _DeploySteps(NamedTuple):
    any: bool  # the build has steps for its environment
    succeeded: bool  # one of them succeeded
    agent: str  # the agent that ran the last stage with such steps ("" when unknown)


def _deploy_steps(s: Session, build_id: int) -> _DeploySteps:
    """The build's steps for its environment (``StepSpec.targets_environment``): whether it
    has any, whether one succeeded, and the agent that ran them."""
    stages = s.execute(
        select(StageRow.id, StageRow.agent_id, StageRow.spec)
        .where(StageRow.build_id == build_id)
        .order_by(StageRow.number)
    ).all()
    names: dict[int, set[str]] = {}
    agent_id = None
    for stage_id, stage_agent, spec in stages:
        steps = (spec or {}).get("steps") or []
        wanted = {str(step.get("name")) for step in steps if step.get("targets_environment")}
        if wanted:
            names[stage_id] = wanted
            agent_id = stage_agent if stage_agent is not None else agent_id
    if not names:
        return _DeploySteps(False, False, "")
    succeeded = any(
        name in names[stage_id]
        for stage_id, name in s.execute(
            select(StepRow.stage_id, StepRow.name).where(
                StepRow.stage_id.in_(list(names)), StepRow.status == SUCCESS
            )
        )
    )
    agent = s.scalar(select(AgentRow.name).where(AgentRow.id == agent_id)) if agent_id else None
    return _DeploySteps(True, succeeded, agent or "")


class DeploymentStore:
    """Deployment records of repositories, newest first. Thread-safe; each method is one
    transaction. Records are written by the build's own transactions (see the module)."""

    def __init__(self, db: Database):
        self.db = db

    def of_repo(
        self,
        repo_id: int,
        *,
        environment: str | None = None,
        limit: int = 25,
        before: int | None = None,
    ) -> list[Deployment]:
        """Records of the repository (of ``environment`` when given), newest first: at most
        ``limit`` (up to ``MAX_PAGE``), with ids below ``before`` when given (the next page)."""
        query = select(DeploymentRow).where(DeploymentRow.repo_id == repo_id)
        if environment is not None:
            query = query.where(DeploymentRow.environment == environment)
        if before is not None:
            query = query.where(DeploymentRow.id < before)
        query = query.order_by(DeploymentRow.id.desc()).limit(max(1, min(limit, MAX_PAGE)))
        with self.db.session() as s:
            return [to_record(Deployment, r) for r in s.scalars(query)]

    def current(self, repo_id: int) -> list[Deployment]:
        """The records that say what each environment runs now, newest first: those ``live``
        or ``canary``, and those of builds not finished yet."""
        query = (
            select(DeploymentRow)
            .where(
                DeploymentRow.repo_id == repo_id,
                or_(
                    DeploymentRow.state.in_([STATE_LIVE, STATE_CANARY]),
                    DeploymentRow.finished == 0.0,
                ),
            )
            .order_by(DeploymentRow.id.desc())
            .limit(10 * MAX_PAGE)
        )
        with self.db.session() as s:
            return [to_record(Deployment, r) for r in s.scalars(query)]

    def of_build(self, build_id: int) -> list[Deployment]:
        """Where the build is deployed: its own record, and those of the promote and rollback
        builds made from it (and from those: a restarted promote names the promote as its
        parent), oldest first."""
        with self.db.session() as s:
            build = s.get(BuildRow, build_id)
            if build is None:
                return []
            ids, seen, frontier = {build_id}, {build.number}, {build.number}
            for _ in range(MAX_DESCENT):
                children = s.execute(
                    select(BuildRow.id, BuildRow.number).where(
                        BuildRow.repo_id == build.repo_id,
                        BuildRow.parent.in_(frontier),
                        BuildRow.event.in_(DEPLOY_EVENTS),
                    )
                ).all()
                frontier = {number for _, number in children} - seen
                if not frontier:
                    break
                seen |= frontier
                ids |= {child_id for child_id, number in children if number in frontier}
            query = (
                select(DeploymentRow)
                .where(DeploymentRow.build_id.in_(ids))
                .order_by(DeploymentRow.id)
            )
            return [to_record(Deployment, r) for r in s.scalars(query)]

    def was_live(self, repo_id: int, environment: str, commit: str) -> bool:
        """Whether a build of ``commit`` was live in ``environment`` (live now, or live before
        and superseded since): what a rollback exempt from approval must go back to."""
        query = (
            select(DeploymentRow.id)
            .where(
                DeploymentRow.repo_id == repo_id,
                DeploymentRow.environment == environment,
                DeploymentRow.commit == commit,
                DeploymentRow.state.in_([STATE_LIVE, STATE_SUPERSEDED]),
                DeploymentRow.finished > 0.0,
            )
            .limit(1)
        )
        with self.db.session() as s:
            return s.scalar(query) is not None

    def report(self, build_id: int, fields: dict[str, Any]) -> bool:
        """Write what a deploy step of the build reported (``state``, ``strategy``,
        ``traffic_share``, ``image``, ``message``, checked by ``runner.deploy_report``) into
        its record, while the build runs; False when it has none or it ended already."""
        allowed = {"state", "strategy", "traffic_share", "image", "message"}
        values = {k: v for k, v in fields.items() if k in allowed}
        if not values:
            return False
        with self.db.write() as s:
            result = s.execute(
                update(DeploymentRow)
                .where(DeploymentRow.build_id == build_id, DeploymentRow.finished == 0.0)
                .values(**values)
            )
            return bool(getattr(result, "rowcount", 0))
