"""What follows when a stage ends: dependents released or skipped, the build's status derived.

Functions here work inside a caller's write transaction, so a stage's end and its consequences
are committed together.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from runner.core import (
    DECLINED,
    DONE_STATUSES,
    ERROR,
    FAILURE,
    KILLED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCESS,
    WAITING,
)
from runner.pipeline.spec import ALWAYS, ON_FAILURE
from runner.store.models import BuildEventRow, BuildRow, EnvironmentRow, StageRow, StepRow

RUN = "run"
WAIT = "wait"
SKIP = "skip"


def readiness(stage: StageRow, by_name: dict[str, StageRow]) -> str:
    """``run`` when the stage may start now, ``wait`` for unfinished dependencies, ``skip``.

    A stage runs once every stage it depends on is done: on success of them all, or, when its
    run policy (Drone's ``trigger: status``) says so, after a failure.
    """
    deps = [by_name[name] for name in stage.depends_on or [] if name in by_name]
    if any(dep.status not in DONE_STATUSES for dep in deps):
        return WAIT
    failed = any(dep.status != SUCCESS for dep in deps)
    policy = (stage.spec or {}).get("run_policy", "")
    if policy == ALWAYS:
        return RUN
    if policy == ON_FAILURE:
        return RUN if failed else SKIP
    return SKIP if failed else RUN


def build_status(statuses: list[str], *, cancelled: bool = False) -> str:
    """The status of a build whose stages all ended with ``statuses``.

    ``cancelled``: someone cancelled the build while a stage ran. The build is ``killed`` then
    even when that stage reports a failure: its agent learns of a cancel only at its next
    heartbeat, and a step that failed (or whose container was stopped) in between makes it
    report ``failure`` for a build the user already cancelled.
    """
    if cancelled or KILLED in statuses:
        return KILLED
    if FAILURE in statuses:
        return FAILURE
    if ERROR in statuses:
        return ERROR
    if statuses and all(s == DECLINED for s in statuses):
        return DECLINED
    return SUCCESS


def settle(session: Session, build_id: int, now: float) -> str:
    """Skip stages that can no longer run, finish the build when every stage is done.

    Returns the build's status afterwards. Releases the build's environment lock when it ends.
    """
    stages = session.scalars(
        select(StageRow).where(StageRow.build_id == build_id).order_by(StageRow.number)
    ).all()
    by_name = {s.name: s for s in stages}
    changed = True
    while changed:  # a skip can make further dependents skip
        changed = False
        for stage in stages:
            if stage.status not in (PENDING, WAITING):
                continue
            if readiness(stage, by_name) == SKIP:
                stage.status = SKIPPED
                stage.finished = now
                session.execute(
                    update(StepRow)
                    .where(StepRow.stage_id == stage.id, StepRow.status == PENDING)
                    .values(status=SKIPPED)
                )
                changed = True
    session.flush()
    build = session.get(BuildRow, build_id)
    if build is None or build.status in DONE_STATUSES:
        return build.status if build else ""
    if stages and all(s.status in DONE_STATUSES for s in stages):
        build.status = build_status(
            [s.status for s in stages], cancelled=any(s.cancel_requested for s in stages)
        )
        build.finished = now
        session.execute(
            update(EnvironmentRow)
            .where(EnvironmentRow.locked_by == build_id)
            .values(locked_by=None)
        )
    elif any(s.status == RUNNING for s in stages) and build.status == PENDING:
        build.status = RUNNING
        build.started = build.started or now
    session.flush()
    return build.status


def record(
    session: Session,
    build_id: int,
    kind: str,
    message: str = "",
    *,
    actor: str = "",
    stage_id: int | None = None,
    now: float,
) -> None:
    """Add an entry to the build's history inside the caller's transaction."""
    session.add(
        BuildEventRow(
            build_id=build_id,
            stage_id=stage_id,
            kind=kind,
            message=message,
            actor=actor,
            created=now,
        )
    )
