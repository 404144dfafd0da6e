"""Builds with their stages and steps: creation, listing, status changes, cancel, approval."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runner.core import (
    DONE_STATUSES,
    KILLED,
    PENDING,
    RUNNING,
    SKIPPED,
    Build,
    Stage,
    Step,
)
from runner.errors import BadRequest, Conflict, NotFound
from runner.pipeline.spec import StageSpec
from runner.store import deployments, progress
from runner.store.audit import AuditDraft, entry_row
from runner.store.convert import affected, now, row_values, select_by_id, to_record
from runner.store.db import Database
from runner.store.decisions import decide
from runner.store.logmover import discard_objects
from runner.store.models import (
    BuildRow,
    LogChunkRow,
    RepoRow,
    StageRow,
    StepRow,
    table,
)
from runner.store.records import APPROVED
from runner.store.records import DECLINED as DECISION_DECLINED

MAX_PER_PAGE = 100
# A pull request build's number, from its stored context (BuildContext.pull_request).
_PULL_REQUEST = BuildRow.context["pull_request"].as_integer()

_repos = table(RepoRow)
# The counter row is locked by this UPDATE until commit: numbers never repeat.
_RESERVE = (
    update(_repos)
    .where(_repos.c.id == bindparam("p_repo"))
    .values(build_counter=_repos.c.build_counter + 1)
    .returning(_repos.c.build_counter)
)
_RELEASE = (
    update(_repos)
    .where(_repos.c.id == bindparam("p_repo"), _repos.c.build_counter == bindparam("p_number"))
    .values(build_counter=bindparam("p_number") - 1)
)


def stage_from_spec(spec: StageSpec, *, status: str = PENDING) -> Stage:
    """A new (unsaved) stage for ``BuildStore.create``: one step per spec step, clone included."""
    steps = [
        Step(id=0, stage_id=0, number=i, name=step.name)
        for i, step in enumerate(spec.steps, start=1)
    ]
    return Stage(
        id=0,
        build_id=0,
        number=spec.number,
        name=spec.name,
        status=status,
        labels=dict(spec.labels),
        depends_on=list(spec.depends_on),
        spec=spec,
        steps=steps,
    )


def carried_stage(spec: StageSpec, done: Stage) -> Stage:
    """A new (unsaved) stage of ``spec`` that does not run: it takes the status, times and
    agent of ``done`` (the same stage of an earlier build), and each step takes the results of
    ``done``'s step of the same name (a step ``done`` lacks is ``skipped``)."""
    stage = stage_from_spec(spec, status=done.status)
    stage.started, stage.finished, stage.agent_id = done.started, done.finished, done.agent_id
    earlier = {step.name: step for step in done.steps}
    for step in stage.steps:
        old = earlier.get(step.name)
        if old is None:
            step.status = "skipped"
            continue
        step.status, step.exit_code, step.error = old.status, old.exit_code, old.error
        step.started, step.finished = old.started, old.finished
    return stage


def load_stages(session: Session, build_ids: list[int]) -> dict[int, list[Stage]]:
    """Stages (with steps) of the given builds, by build id, in stage and step order."""
    if not build_ids:
        return {}
    stage_rows = session.scalars(
        select(StageRow)
        .where(StageRow.build_id.in_(build_ids))
        .order_by(StageRow.build_id, StageRow.number, StageRow.id)
    ).all()
    steps: dict[int, list[Step]] = {}
    if stage_rows:
        step_rows = session.scalars(
            select(StepRow)
            .where(StepRow.stage_id.in_([r.id for r in stage_rows]))
            .order_by(StepRow.stage_id, StepRow.number, StepRow.id)
        )
        for step_row in step_rows:
            steps.setdefault(step_row.stage_id, []).append(to_record(Step, step_row))
    out: dict[int, list[Stage]] = {}
    for row in stage_rows:
        stage = to_record(Stage, row, steps=steps.get(row.id, []))
        out.setdefault(row.build_id, []).append(stage)
    return out


class BuildStore:
    """Builds of repositories. Thread-safe; every method is one transaction."""

    def __init__(self, db: Database):
        self.db = db

    def reserve_number(self, repo_id: int) -> int:
        """Take the repository's next build number for a build about to be made.

        One atomic ``UPDATE … RETURNING`` on the repository's counter (the row stays locked
        until commit), so two servers on one database never hand out the same number, and the
        number is known before the pipeline file is compiled into ``DRONE_BUILD_NUMBER``. Pass
        it to ``create`` in ``build.number``; give a number no build will take back with
        ``release_number``. Raises ``NotFound`` for an unknown repository.
        """
        with self.db.write_connection() as c:
            number = c.scalar(_RESERVE, {"p_repo": repo_id})
        if number is None:
            raise NotFound(f"no repository with id {repo_id}")
        return int(number)

    def release_number(self, repo_id: int, number: int) -> bool:
        """Give back a reserved ``number`` no build took (the event was skipped, or refused).

        The counter steps back only while ``number`` is still the last one handed out: a number
        reserved after it meanwhile keeps its place, and ``number`` stays a gap. True when the
        number was given back.
        """
        with self.db.write_connection() as c:
            result = c.execute(_RELEASE, {"p_repo": repo_id, "p_number": number})
            return affected(result) > 0

    def create(self, build: Build, entry: AuditDraft | None = None) -> Build:
        """Save ``build`` with its stages and their steps, and ``entry`` in the event log
        (in the build's repository's log), in one transaction.

        ``build.number`` is a number from ``reserve_number``; 0 reserves the next one here.
        ``build.id`` and the ids inside are ignored and assigned here. Stages come from
        ``stage_from_spec``; a build with no stages (status ``error``) is allowed. Raises
        ``Conflict`` when the number is taken already.
        """
        stamp = now()
        try:
            with self.db.write() as s:
                number = build.number or s.scalar(_RESERVE, {"p_repo": build.repo_id})
                if number is None:
                    raise NotFound(f"no repository with id {build.repo_id}")
                values = row_values(build, BuildRow)
                values.update(number=number, created=build.created or stamp)
                row = BuildRow(**values)
                s.add(row)
                s.flush()
                for stage in build.stages:
                    stage_values = row_values(stage, StageRow)
                    stage_values.update(build_id=row.id, created=stamp)
                    stage_row = StageRow(**stage_values)
                    s.add(stage_row)
                    s.flush()
                    for step in stage.steps:
                        step_values = row_values(step, StepRow)
                        step_values["stage_id"] = stage_row.id
                        s.add(StepRow(**step_values))
                deployments.on_create(s, row)
                if entry is not None:
                    s.add(entry_row(entry, build.repo_id))
                s.flush()
                return self._load(s, row)
        except IntegrityError:
            raise Conflict(
                f"repository {build.repo_id} has a build #{build.number} already"
            ) from None

    def get(self, build_id: int) -> Build:
        """The build with its stages and steps; raises ``NotFound``."""
        with self.db.session() as s:
            row = s.get(BuildRow, build_id)
            if row is None:
                raise NotFound(f"no build with id {build_id}")
            return self._load(s, row)

    def header(self, build_id: int) -> Build:
        """The build without its stages (no specs to decode); raises ``NotFound``."""
        row = self.db.first(select_by_id(BuildRow.__table__), {"p_id": build_id})
        if row is None:
            raise NotFound(f"no build with id {build_id}")
        return to_record(Build, row)

    def get_by_number(self, repo_id: int, number: int) -> Build:
        """Build ``number`` of the repository, with stages and steps; raises ``NotFound``."""
        with self.db.session() as s:
            row = s.scalar(
                select(BuildRow).where(BuildRow.repo_id == repo_id, BuildRow.number == number)
            )
            if row is None:
                raise NotFound(f"repository has no build #{number}")
            return self._load(s, row)

    def page_of_repo(
        self,
        repo_id: int | None = None,
        *,
        page: int = 1,
        per_page: int = 25,
        branch: str | None = None,
        status: str | None = None,
        event: str | None = None,
        branch_prefix: str | None = None,
        pull_request: int | None = None,
        with_stages: bool = False,
    ) -> list[Build]:
        """Builds newest first, ``per_page`` (at most 100) at a time; filters are exact but
        ``branch_prefix`` (branches starting with it) and ``pull_request`` (the builds of that
        pull request number)."""
        if page < 1 or per_page < 1:
            raise BadRequest("page and per_page start at 1")
        per_page = min(per_page, MAX_PER_PAGE)
        query = self._filtered(repo_id, branch, status, event, branch_prefix, pull_request)
        query = query.order_by(BuildRow.id.desc())
        query = query.offset((page - 1) * per_page).limit(per_page)
        with self.db.session() as s:
            rows = s.scalars(query).all()
            stages = load_stages(s, [r.id for r in rows]) if with_stages else {}
            return [to_record(Build, r, stages=stages.get(r.id, [])) for r in rows]

    def count(
        self,
        repo_id: int | None = None,
        *,
        branch: str | None = None,
        status: str | None = None,
        event: str | None = None,
        branch_prefix: str | None = None,
        pull_request: int | None = None,
    ) -> int:
        """How many builds ``page_of_repo`` would page through with the same filters."""
        query = self._filtered(repo_id, branch, status, event, branch_prefix, pull_request)
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(query.subquery())) or 0

    def newest_per_branch(self, repo_id: int, limit: int = 12) -> list[Build]:
        """The newest build of each branch (or tag) of a repository, newest first, at most
        ``limit``, without stages; pull requests left out (their branch is the base branch,
        which their result does not speak for: ``newest_per_pull_request``)."""
        newest = (
            select(func.max(BuildRow.id))
            .where(BuildRow.repo_id == repo_id, BuildRow.event != "pull_request")
            .group_by(BuildRow.branch, BuildRow.tag)
        )
        query = (
            select(BuildRow)
            .where(BuildRow.id.in_(newest))
            .order_by(BuildRow.id.desc())
            .limit(limit)
        )
        with self.db.session() as s:
            return [to_record(Build, r) for r in s.scalars(query)]

    def newest_per_pull_request(self, repo_id: int, limit: int = 12) -> list[Build]:
        """The newest build of each pull request (by number) of a repository, newest first, at
        most ``limit``, without stages."""
        newest = (
            select(func.max(BuildRow.id))
            .where(BuildRow.repo_id == repo_id, BuildRow.event == "pull_request")
            .group_by(_PULL_REQUEST)
        )
        query = (
            select(BuildRow)
            .where(BuildRow.id.in_(newest))
            .order_by(BuildRow.id.desc())
            .limit(limit)
        )
        with self.db.session() as s:
            return [to_record(Build, r) for r in s.scalars(query)]

    def newest_of_branch(self, repo_id: int, branch: str) -> Build | None:
        """The newest build of ``branch`` (pull requests left out), without stages, or None."""
        query = (
            select(BuildRow)
            .where(BuildRow.repo_id == repo_id, BuildRow.branch == branch)
            .where(BuildRow.event != "pull_request")
            .order_by(BuildRow.id.desc())
            .limit(1)
        )
        with self.db.session() as s:
            row = s.scalar(query)
            return to_record(Build, row) if row is not None else None

    def active(self) -> list[Build]:
        """Builds not done yet (pending, blocked, running), oldest first, with stages."""
        with self.db.session() as s:
            rows = s.scalars(
                select(BuildRow)
                .where(BuildRow.status.not_in(list(DONE_STATUSES)))
                .order_by(BuildRow.id)
            ).all()
            stages = load_stages(s, [r.id for r in rows])
            return [to_record(Build, r, stages=stages.get(r.id, [])) for r in rows]

    def active_ids(self) -> list[int]:
        """Ids of the builds not done yet, oldest first."""
        with self.db.read_connection() as c:
            return list(
                c.scalars(
                    select(BuildRow.id)
                    .where(BuildRow.status.not_in(list(DONE_STATUSES)))
                    .order_by(BuildRow.id)
                )
            )

    def update(self, build_id: int, **fields: Any) -> Build:
        """Set build columns (status, error, started, finished, message...) as given."""
        with self.db.write() as s:
            if fields:
                s.execute(update(BuildRow).where(BuildRow.id == build_id).values(**fields))
            row = s.get(BuildRow, build_id)
            if row is None:
                raise NotFound(f"no build with id {build_id}")
            return self._load(s, row)

    def cancel(self, build_id: int, *, actor: str = "", reason: str = "") -> Build:
        """Cancel the build: stages not started are killed, running ones are asked to stop.

        A running stage's agent learns it from its next heartbeat (``renew_lease`` answers
        ``cancel``) and ends the stage as killed. A build already done is left as it is.
        """
        stamp = now()
        with self.db.write() as s:
            row = s.get(BuildRow, build_id)
            if row is None:
                raise NotFound(f"no build with id {build_id}")
            if row.status in DONE_STATUSES:
                return self._load(s, row)
            # Locked (PostgreSQL) so a requeue of a lost agent's stage cannot slip in between.
            stages = s.scalars(
                select(StageRow).where(StageRow.build_id == build_id).with_for_update()
            ).all()
            for stage in stages:
                if stage.status == RUNNING:
                    stage.cancel_requested = True
                elif stage.status not in DONE_STATUSES:
                    stage.status = KILLED
                    stage.finished = stamp
                    s.execute(
                        update(StepRow)
                        .where(StepRow.stage_id == stage.id, StepRow.status == PENDING)
                        .values(status=SKIPPED)
                    )
            progress.record(s, build_id, "cancelled", reason, actor=actor, now=stamp)
            s.flush()
            progress.settle(s, build_id, stamp)
            return self._load(s, row)

    def approve(self, build_id: int, login: str, comment: str = "") -> Build:
        """Count ``login``'s approval of a blocked build; its stages go to the queue once the
        environment's approval rules are met (``runner.store.decisions.decide``). Raises
        ``Conflict`` if not blocked or approved by ``login`` already, ``Forbidden`` when
        four-eyes refuses ``login``."""
        return self._decide(build_id, login, APPROVED, comment)

    def decline(self, build_id: int, login: str, comment: str = "") -> Build:
        """End a blocked build as declined; raises ``Conflict`` if not blocked."""
        return self._decide(build_id, login, DECISION_DECLINED, comment)

    def _decide(self, build_id: int, login: str, decision: str, comment: str) -> Build:
        with self.db.write() as s:
            row = decide(s, build_id, login, decision, comment, now())
            return self._load(s, row)

    def delete(self, build_id: int) -> None:
        """Remove the build with its stages, steps and logs."""
        with self.db.write() as s:
            step_ids = select(StepRow.id).join(StageRow).where(StageRow.build_id == build_id)
            discard_objects(s, step_ids)
            s.execute(delete(LogChunkRow).where(LogChunkRow.step_id.in_(step_ids)))
            if affected(s.execute(delete(BuildRow).where(BuildRow.id == build_id))) == 0:
                raise NotFound(f"no build with id {build_id}")

    @staticmethod
    def _filtered(
        repo_id: int | None,
        branch: str | None,
        status: str | None,
        event: str | None,
        branch_prefix: str | None = None,
        pull_request: int | None = None,
    ) -> Select[BuildRow]:
        query = select(BuildRow)
        if repo_id is not None:
            query = query.where(BuildRow.repo_id == repo_id)
        if branch:
            query = query.where(BuildRow.branch == branch)
        if branch_prefix:
            # autoescape: a branch's "%" and "_" are themselves, not LIKE wildcards.
            query = query.where(BuildRow.branch.startswith(branch_prefix, autoescape=True))
        if pull_request:
            query = query.where(BuildRow.event == "pull_request", _PULL_REQUEST == pull_request)
        if status:
            query = query.where(BuildRow.status == status)
        if event:
            query = query.where(BuildRow.event == event)
        return query

    @staticmethod
    def _load(session: Session, row: BuildRow) -> Build:
        session.refresh(row)
        stages = load_stages(session, [row.id]).get(row.id, [])
        return to_record(Build, row, stages=stages)
