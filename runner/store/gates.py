"""What a pending stage must pass, besides labels and dependencies, before an agent claims it.

- Scope: an agent whose labels name ``repo`` or ``event`` (``repo=acme/*``,
  ``!event=tag``) takes only stages of builds whose repository slug or event fits them, so
  the check happens before the claim, never after.
- Deploy lock: a stage of a build whose environment has ``lock`` waits while another build
  holds that environment; the first claimed stage takes the lock for its build, and
  ``runner.store.progress.settle`` releases it when the build ends.

Used by ``StageStore.claim`` inside its session; never commits on its own.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from sqlalchemy import ColumnElement, and_, exists, or_, select, update

from runner.store.models import BuildRow, EnvironmentRow, StageRow

SCOPE_KEYS = ("repo", "event")


def agent_scope(offered: dict, required: dict) -> dict[str, str]:
    """The ``repo``/``event`` patterns an agent's labels restrict it to (none: any)."""
    scope = {k: offered.get(k, required.get(k)) for k in SCOPE_KEYS}
    return {k: v for k, v in scope.items() if v not in (None, "", "*")}


def in_scope(scope: dict[str, str], slug: str, event: str) -> bool:
    """Whether a build of repository ``slug`` for ``event`` fits the agent's scope."""
    values = {"repo": slug, "event": event}
    return all(fnmatchcase(values[key], pattern) for key, pattern in scope.items())


def lock_free() -> ColumnElement[bool]:
    """A SQL condition on a query joining ``StageRow`` and ``BuildRow``: the build's
    environment has no deploy lock, or the lock is free or held by this build."""
    return ~exists().where(
        EnvironmentRow.repo_id == BuildRow.repo_id,
        EnvironmentRow.name == BuildRow.target,
        EnvironmentRow.lock.is_(True),
        EnvironmentRow.locked_by.is_not(None),
        EnvironmentRow.locked_by != StageRow.build_id,
    )


def take_lock(s, build_id: int, repo_id: int, target: str) -> bool:
    """Take the deploy lock of the build's environment when it has one; False while another
    build holds it. Conditional, so a lock taken since the stage was picked is respected."""
    if not target:
        return True
    of_env = and_(
        EnvironmentRow.repo_id == repo_id,
        EnvironmentRow.name == target,
        EnvironmentRow.lock.is_(True),
    )
    taken = s.execute(
        update(EnvironmentRow)
        .where(
            of_env,
            or_(EnvironmentRow.locked_by.is_(None), EnvironmentRow.locked_by == build_id),
        )
        .values(locked_by=build_id)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount:
        return True
    # Nothing updated: either the environment has no lock (free to go) or another build has it.
    return s.scalar(select(EnvironmentRow.id).where(of_env).limit(1)) is None
