"""A person's decision on a blocked build, inside the caller's write transaction.

The one place the approval rules of the build's environment (``runner.approval_rules``) are
enforced: four-eyes, the number of distinct approvers, one decline ends it. Every decision is
kept in the ``approvals`` table and the build's history.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from runner.approval_rules import check_approver, required_approvals
from runner.core import BLOCKED, DECLINED, PENDING, SKIPPED
from runner.errors import Conflict, NotFound
from runner.store import deployments, progress
from runner.store.models import ApprovalRow, BuildRow, EnvironmentRow, StageRow, StepRow
from runner.store.records import APPROVED


def decide(
    session: Session, build_id: int, login: str, decision: str, comment: str, now: float
) -> BuildRow:
    """Record ``login``'s ``decision`` (approved or declined) on build ``build_id``.

    A decline ends the build at once (its blocked stages ``declined``, their steps skipped).
    An approval counts towards the environment's ``approvals_required``: the stages are
    released to the queue when that many distinct people approved, else the build stays
    ``blocked``. Raises ``NotFound``, ``Conflict`` (the build does not wait for approval, or
    ``login`` approved it already) or ``Forbidden`` (four-eyes). Returns the build's row.
    """
    # Locked (PostgreSQL), so two approvals at once are counted one after the other.
    row = session.scalar(select(BuildRow).where(BuildRow.id == build_id).with_for_update())
    if row is None:
        raise NotFound(f"no build with id {build_id}")
    blocked = session.scalars(
        select(StageRow).where(StageRow.build_id == build_id, StageRow.status == BLOCKED)
    ).all()
    if row.status != BLOCKED and not blocked:
        raise Conflict(f"build #{row.number} is {row.status}, not waiting for approval")
    if decision == APPROVED:
        env = _environment(session, row)
        required = required_approvals(env)
        approvers = list(
            session.scalars(
                select(ApprovalRow.login).where(
                    ApprovalRow.build_id == build_id, ApprovalRow.decision == APPROVED
                )
            )
        )
        check_approver(
            login,
            number=row.number,
            event=row.event,
            sender=row.sender,
            author=row.author,
            commit=row.commit,
            four_eyes=bool(env is not None and env.four_eyes),
            approvers=approvers,
            required=required,
        )
        approved = len(approvers) + 1
        released = approved >= required
        message = comment
        if required > 1:
            count = f"{approved} of {required} approvals"
            message = f"{count}: {comment}" if comment else count
    else:
        released, message = False, comment
    if released:
        for stage in blocked:
            stage.status = PENDING
        row.status = PENDING
    elif decision != APPROVED:
        for stage in blocked:
            stage.status = DECLINED
            stage.finished = now
            session.execute(
                update(StepRow).where(StepRow.stage_id == stage.id).values(status=SKIPPED)
            )
    session.add(
        ApprovalRow(build_id=build_id, login=login, decision=decision, comment=comment, created=now)
    )
    progress.record(session, build_id, decision, message, actor=login, now=now)
    deployments.on_decision(session, build_id, login, decision)
    session.flush()
    progress.settle(session, build_id, now)
    return row


def _environment(session: Session, row: BuildRow) -> EnvironmentRow | None:
    if not row.target:
        return None
    env: EnvironmentRow | None = session.scalar(
        select(EnvironmentRow).where(
            EnvironmentRow.repo_id == row.repo_id, EnvironmentRow.name == row.target
        )
    )
    return env
