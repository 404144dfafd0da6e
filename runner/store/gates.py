"""What a pending stage must pass, besides labels and dependencies, before an agent claims it.

- Scope: an agent whose labels name ``repo`` or ``event`` (``repo=acme/*``,
  ``!event=tag``) takes only stages of builds whose repository slug or event fits them, so
  the check happens before the claim, never after.
- Deploy lock: a stage of a build whose environment has ``lock`` waits while another build
  holds that environment; the first claimed stage takes the lock for its build, and
  ``runner.store.progress.settle`` releases it when the build ends.

Called by ``StageStore.claim`` inside its session; never commits on its own.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from sqlalchemy import or_, select, update

from runner.store.models import BuildRow, EnvironmentRow, RepoRow, StageRow

SCOPE_KEYS = ("repo", "event")


class ClaimGates:
    """The scope and deploy-lock checks for one agent over a batch of pending stages."""

    def __init__(self, s, rows: list[StageRow], offered: dict, required: dict):
        self.scope = {k: offered.get(k, required.get(k)) for k in SCOPE_KEYS}
        self.scope = {k: v for k, v in self.scope.items() if v not in (None, "", "*")}
        build_ids = {r.build_id for r in rows}
        self.builds: dict[int, tuple[str, str, int, str]] = {}
        self.locked: dict[tuple[int, str], tuple[int, int | None]] = {}
        if not build_ids:
            return
        for build_id, slug, event, repo_id, target in s.execute(
            select(BuildRow.id, RepoRow.slug, BuildRow.event, BuildRow.repo_id, BuildRow.target)
            .join(RepoRow, RepoRow.id == BuildRow.repo_id)
            .where(BuildRow.id.in_(build_ids))
        ):
            self.builds[build_id] = (slug, event, repo_id, target or "")
        targets = {(b[2], b[3]) for b in self.builds.values() if b[3]}
        if targets:
            for env_id, repo_id, name, holder in s.execute(
                select(
                    EnvironmentRow.id,
                    EnvironmentRow.repo_id,
                    EnvironmentRow.name,
                    EnvironmentRow.locked_by,
                ).where(
                    EnvironmentRow.lock.is_(True),
                    EnvironmentRow.repo_id.in_({t[0] for t in targets}),
                )
            ):
                self.locked[(repo_id, name)] = (env_id, holder)

    def allows(self, row: StageRow) -> bool:
        """Whether the agent's scope takes the stage and its environment's lock is free."""
        slug, event, repo_id, target = self.builds.get(row.build_id, ("", "", 0, ""))
        values = {"repo": slug, "event": event}
        for key, pattern in self.scope.items():
            if not fnmatchcase(values[key], pattern):
                return False
        lock = self.locked.get((repo_id, target))
        return lock is None or lock[1] in (None, row.build_id)

    def take_lock(self, s, row: StageRow) -> bool:
        """Take the deploy lock for the stage's build when its environment has one."""
        _slug, _event, repo_id, target = self.builds.get(row.build_id, ("", "", 0, ""))
        lock = self.locked.get((repo_id, target))
        if lock is None:
            return True
        taken = s.execute(
            update(EnvironmentRow)
            .where(
                EnvironmentRow.id == lock[0],
                or_(EnvironmentRow.locked_by.is_(None), EnvironmentRow.locked_by == row.build_id),
            )
            .values(locked_by=row.build_id)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:
            self.locked[(repo_id, target)] = (lock[0], row.build_id)
            return True
        return False
