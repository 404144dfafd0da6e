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
from runner.pipeline.graph import dependency_order
from runner.pipeline.readiness import SKIP, readiness
from runner.store import deployments
from runner.store.models import BuildEventRow, BuildRow, EnvironmentRow, StageRow, StepRow


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
    statuses = {s.name: s.status for s in stages}
    # Dependencies first, so a skip reaches the dependents of the skipped stage in one pass.
    for name in dependency_order({s.name: list(s.depends_on or []) for s in stages}):
        stage = by_name[name]
        if stage.status not in (PENDING, WAITING):
            continue
        policy = (stage.spec or {}).get("run_policy", "")
        if readiness(stage.depends_on or [], policy, statuses) == SKIP:
            stage.status = statuses[name] = SKIPPED
            stage.finished = now
            session.execute(
                update(StepRow)
                .where(StepRow.stage_id == stage.id, StepRow.status == PENDING)
                .values(status=SKIPPED)
            )
    session.flush()
    build = session.get(BuildRow, build_id)
    if build is None or build.status in DONE_STATUSES:
        return build.status if build else ""
    if stages and all(s.status in DONE_STATUSES for s in stages):
        build.status = build_status(
            [s.status for s in stages], cancelled=any(s.cancel_requested for s in stages)
        )
        build.finished = now
        deployments.on_settle(session, build, now)
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
