"""The Triggerer: the only way builds are created (webhook, API, cron, restart, promote).

For one event it applies the skip rules, fetches the commit into the repository's bare mirror,
reads the pipeline file(s) at that commit (lookup order of ``runner.pipeline.lookup``), decides
the deploy environment, compiles the pipeline (``runner.pipeline.config.load_pipeline``) and saves
the build with its stages and steps in one transaction, then wakes the agents. A file that does
not substitute, parse or lint gives a build with status ``error`` whose ``error`` lists every
problem with its file and line; a commit that cannot be fetched gives an ``error`` build too
(webhooks) or raises (API calls), so mistakes are visible where the user looks.

The build number is reserved in the store (``BuildStore.reserve_number``) before anything is
read, so the file is compiled once, with the number the build gets (``DRONE_BUILD_NUMBER``),
even with several servers on one database; an event that ends with no build gives its number
back. Thread-safe.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import git

from runner.approval_rules import needs_approval
from runner.core import BLOCKED, ERROR, Build, Cron, Repo, Stage
from runner.environments import decide_target
from runner.errors import (
    BadRequest,
    Conflict,
    EngineError,
    NotFound,
    PipelineError,
    RunnerError,
)
from runner.forges.base import EVENT_CUSTOM, EVENT_PULL_REQUEST
from runner.git_urls import is_local_url, without_credentials
from runner.gitmirror import Mirror
from runner.pipeline import limits
from runner.pipeline.config import CompiledBuild, load_pipeline
from runner.pipeline.lookup import PIPELINE_FILE_ORDER, select_pipeline_files
from runner.pipeline.spec import BuildContext
from runner.pipeline.trust import FORK, guarded, route_refusal, trust_class
from runner.server.compile_worker import compile_worker, read_declarations, reading_untrusted
from runner.server.metrics import metrics_of
from runner.server.status import StatusReporter, status_reporter
from runner.services.events import new_build_entry
from runner.store.builds import carried_stage, stage_from_spec
from runner.store.config_revisions import config_digest
from runner.store.records import Environment

if TYPE_CHECKING:
    from runner.environments import EnvironmentDecl
    from runner.server.services import Services

log = logging.getLogger(__name__)

# Events that deploy a chosen build to a named environment; they must run a step for it.
DEPLOY_EVENTS = ("promote", "rollback")


class BuildSkipped(RunnerError):
    """The event asks for no build: ``[skip ci]``, or no pipeline's conditions match it.

    Webhooks answer it with 200 and the reason; the API answers 422 with the reason.
    """

    http_status = 422


class NothingToDeploy(BuildSkipped):
    """A promote or rollback whose pipeline, at the chosen build's commit, has no step for the
    target environment: it would run and deploy nothing. Answered 422 with the reason; no
    build is made and its number is given back."""


class Triggerer:
    """Creates builds for a repository from events. Build one per ``Services``.

    ``services`` provides ``settings``, ``stores``, ``extras`` and ``wake_agents()``. ``status``
    is told about every new build (``build_changed(build)``); by default it is the commit
    status reporter of ``runner.server.status``.
    """

    def __init__(self, services: Services, *, status: StatusReporter | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.stores = services.stores
        self.status = status if status is not None else status_reporter(services)
        # Pipeline files are untrusted: they are read in worker processes with CPU-time and
        # memory limits, so no file can stall or exhaust the server.
        self.compiler = compile_worker()
        self.compiler.start()
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # Entry points -------------------------------------------------------------------------

    def trigger(
        self,
        repo: Repo,
        event: BuildContext,
        *,
        origin: str = "hook",
        carry: Mapping[str, Stage] | None = None,
    ) -> Build:
        """Create the build for ``event`` (a parsed webhook, or one made by the methods below).

        ``origin`` is ``hook``, ``api``, ``cron``, ``restart``, ``rerun`` or ``promote``: for
        ``api`` and ``promote`` an unknown branch or commit raises ``NotFound``, for the others
        it gives a build in ``error`` saying so. Raises ``BuildSkipped`` when nothing should
        run. Returns the saved build with its stages and steps (status ``pending``, ``blocked``
        awaiting approval, or ``error``). Stages named in ``carry`` are saved with that stage's
        results instead of running (``rerun_failed``).
        """
        reason = event.skip_reason()
        if reason:
            raise BuildSkipped(reason)
        with self._repo_lock(repo.id):
            number = self.stores.builds.reserve_number(repo.id)
            try:
                made = self._make(repo, event, origin, number, carry or {})
                # The build and its entry in the event log: one transaction.
                build = self.stores.builds.create(made, new_build_entry(repo, made, origin))
            except BaseException:
                # Skipped, refused or failed: no build took the number.
                self.stores.builds.release_number(repo.id, number)
                raise
        self.status.build_changed(build)
        metrics_of(self.services).builds_created.labels(origin).inc()
        if build.status != ERROR:
            self.services.wake_agents()
        return build

    def manual(
        self,
        repo: Repo,
        *,
        branch: str = "",
        tag: str = "",
        commit: str = "",
        sender: str = "",
        params: dict[str, str] | None = None,
        target: str = "",
    ) -> Build:
        """A ``custom`` build of ``tag``, or of ``branch`` (default: the repository's), at
        ``commit`` or the ref's tip.

        Raises ``NotFound`` when the branch, tag or commit is not in the repository.
        """
        branch = "" if tag else branch or repo.default_branch
        event = BuildContext(
            event=EVENT_CUSTOM,
            ref=f"refs/tags/{tag}" if tag else f"refs/heads/{branch}",
            branch=branch,
            tag=tag,
            commit=commit,
            sender=sender,
            params=dict(params or {}),
            target=target,
        )
        return self.trigger(repo, event, origin="api")

    def cron(self, repo: Repo, cron: Cron) -> Build:
        """A ``cron`` build for the cron job ``cron`` (``runner.core.Cron``) at its branch tip."""
        branch = cron.branch or repo.default_branch
        event = BuildContext(
            event="cron",
            ref=f"refs/heads/{branch}",
            branch=branch,
            cron=cron.name,
            sender="cron",
        )
        return self.trigger(repo, event, origin="cron")

    def restart(self, repo: Repo, build: Build, *, sender: str = "") -> Build:
        """A new build of the same event and commit, reading the pipeline file again."""
        return self.trigger(repo, rebuild_context(build, sender=sender), origin="restart")

    def rerun_failed(
        self, repo: Repo, build: Build, *, keep: Mapping[str, Stage], sender: str = ""
    ) -> Build:
        """A new build of the same event and commit in which the stages named in ``keep``
        (stages of ``build``) are carried over with their results and the others run."""
        event = rebuild_context(build, sender=sender)
        return self.trigger(repo, event, origin="rerun", carry=keep)

    def promote(
        self, repo: Repo, build: Build, *, target: str, event: str = "promote", sender: str = ""
    ) -> Build:
        """A ``promote`` (or ``rollback``) build of ``build``'s commit to environment ``target``."""
        if event not in DEPLOY_EVENTS:
            raise BadRequest(f"event {event!r} is neither promote nor rollback")
        source = rebuild_context(build, sender=sender)
        source.event = event
        source.target = target
        return self.trigger(repo, source, origin="promote")

    # The work -----------------------------------------------------------------------------

    def _make(
        self,
        repo: Repo,
        event: BuildContext,
        origin: str,
        number: int,
        carry: Mapping[str, Stage],
    ) -> Build:
        """The build ``event`` makes, not saved yet: its stages, or in ``error`` saying why."""
        try:
            mirror = self.mirror(repo, event)
            commit = mirror.update(commit=event.commit or None, ref=event.ref or None)
            files = self._pipeline_files(repo, mirror, commit)
            event.config_revision = self._config_revision(repo, event, files)
        except RunnerError as exc:
            # Someone asked for a branch or commit that is not there: tell them, build nothing.
            if origin in ("api", "promote") and isinstance(exc, NotFound):
                raise
            return self._in_error(repo, event, self._context(repo, event, number), exc)
        _fill_from_commit(event, mirror, commit)
        try:
            with reading_untrusted(files):
                files, declared = self.compiler.call(read_declarations, files)
        except PipelineError as exc:
            return self._in_error(repo, event, self._context(repo, event, number), exc)
        environment = self._environment(repo, event, declared)
        if environment is not None:
            event.target = environment.name
        ctx = self._context(repo, event, number)
        if environment is not None and guarded(environment) and _is_fork(repo, event):
            refused = PipelineError(
                f"a pull request from a fork cannot deploy to environment {environment.name}, "
                "which has an approval or a lock; run it from a branch of the repository"
            )
            return self._in_error(repo, event, ctx, refused)
        try:
            with reading_untrusted(files):
                compiled = self._compile(repo, files, ctx, event)
        except PipelineError as exc:
            return self._in_error(repo, event, ctx, exc)
        if event.event in DEPLOY_EVENTS and not compiled.deploy_steps:
            raise NothingToDeploy(_nothing_to_deploy(event, files))
        if not compiled.stages:
            names = ", ".join(compiled.skipped) or "none"
            raise BuildSkipped(
                f"no pipeline of {', '.join(files)} runs for this {event.event} "
                f"(stages skipped by their conditions: {names})"
            )
        build = self._build(repo, event, ctx, number)
        once_live = (
            environment is not None
            and event.event == "rollback"
            and self.stores.deployments.was_live(repo.id, environment.name, ctx.commit)
        )
        blocked = needs_approval(environment, event.event, once_live=once_live)
        for spec in compiled.stages:
            if environment is not None and environment.labels:
                spec.labels = {**spec.labels, **environment.labels}
            if spec.name in carry:
                build.stages.append(carried_stage(spec, carry[spec.name]))
                continue
            build.stages.append(stage_from_spec(spec, status=BLOCKED if blocked else "pending"))
        if blocked:
            build.status = BLOCKED
        return build

    def mirror(self, repo: Repo, event: BuildContext | None = None) -> Mirror:
        """The bare mirror of the repository, under ``<data_dir>/mirrors``."""
        url = repo.clone_url
        if not url and event and not is_local_url(event.remote_url):
            # Only a server admin names a local clone URL (runner.repo_rules), a webhook never.
            url = event.remote_url
        if not url:
            raise EngineError(
                f"repository {repo.slug} has no clone URL; set it with "
                f"`runner repo add {repo.slug} --clone-url URL` or the API"
            )
        return Mirror(self.settings.data_path / "mirrors", url)

    def _pipeline_files(self, repo: Repo, mirror: Mirror, commit: str) -> dict[str, str]:
        names = select_pipeline_files(mirror.list_files(commit), repo.pipeline_path)
        if not names:
            looked = repo.pipeline_path or ", ".join(PIPELINE_FILE_ORDER)
            raise PipelineError(
                f"no pipeline file at commit {commit[:10]}: looked for {looked}; add one or set "
                "the repository's pipeline path"
            )
        limits.check_file_count(len(names))
        for name in names:  # a huge file is refused before it is read into memory
            limits.check_file_size(mirror.file_size(commit, name), name)
        return {name: mirror.read_file(commit, name) for name in names}

    def _config_revision(self, repo: Repo, event: BuildContext, files: dict[str, str]) -> int:
        """The revision of the files as read (``runner.store.config_revisions``): numbered on
        first sight, except for pull requests, which only look theirs up (0 when new): whoever
        opens pull requests could otherwise count the repository's revisions up."""
        digest = config_digest(files)
        revisions = self.stores.config_revisions
        if event.event == EVENT_PULL_REQUEST:
            return revisions.find(repo.id, digest) or 0
        return revisions.number(repo.id, digest)

    def _compile(
        self, repo: Repo, files: dict[str, str], ctx: BuildContext, event: BuildContext
    ) -> CompiledBuild:
        return self.compiler.call(
            load_pipeline,
            files,
            ctx,
            environ=dict(event.params),
            trusted=repo.trusted,
            privileged_images=tuple(self.settings.agent_privileged_images),
            fork_privileged=repo.fork_privileged,
            # A partial of plain data, not a closure: the call runs in a compile worker.
            fork_route=functools.partial(
                route_refusal, environments=self.stores.environments.of_repo(repo.id)
            ),
            # Names only: the values are handed to the agent with the stage, per step.
            substitutable=self.stores.secrets.substitutable(repo.id, ctx.event, ctx.target),
        )

    def _environment(
        self, repo: Repo, event: BuildContext, declared: Sequence[EnvironmentDecl] = ()
    ) -> Environment | None:
        """The build's environment (``runner.environments.decide_target``), or None.

        Environments the pipeline file declares are stored when missing, never from a pull
        request (its file is untrusted); a stored environment is never changed by a file.
        """
        environments = self.stores.environments
        if declared and event.event != EVENT_PULL_REQUEST:
            known = {e.name for e in environments.of_repo(repo.id)}
            for decl in declared:
                if decl.name not in known:
                    try:
                        environments.create(repo.id, decl.name, **decl.store_fields())
                    except Conflict:
                        pass  # stored meanwhile by another build
        found = decide_target(
            environments.of_repo(repo.id),
            event=event.event,
            branch=event.branch,
            tag=event.tag,
            requested=event.target,
        )
        if found is None and event.target and event.event in DEPLOY_EVENTS:
            raise NotFound(
                f"repository {repo.slug} has no environment {event.target!r}; create it first"
            )
        return found

    def _context(self, repo: Repo, event: BuildContext, number: int) -> BuildContext:
        server_url = self.settings.effective_server_url()
        # The event as the delivery told it, completed with what the server knows.
        return dataclasses.replace(
            event,
            repo=repo.slug,
            build_number=number,
            remote_url=without_credentials(repo.clone_url or event.remote_url),
            default_branch=repo.default_branch,
            server_url=server_url,
            instance=urlsplit(server_url).netloc or "localhost",
            trusted=repo.trusted,
            private=repo.private,
            created=int(time.time()),
        )

    def _build(self, repo: Repo, event: BuildContext, ctx: BuildContext, number: int) -> Build:
        return Build(
            id=0,
            repo_id=repo.id,
            number=number,
            event=event.event,
            ref=event.ref,
            branch=event.branch,
            tag=event.tag,
            commit=ctx.commit,
            message=event.message,
            author=event.author,
            target=event.target,
            parent=event.parent,
            sender=event.sender,
            context=ctx.to_dict(),
            config_revision=ctx.config_revision,
        )

    def _in_error(
        self, repo: Repo, event: BuildContext, ctx: BuildContext, exc: RunnerError
    ) -> Build:
        build = self._build(repo, event, ctx, ctx.build_number)
        build.status = ERROR
        build.error = describe_error(exc)
        build.finished = time.time()
        log.info("build of %s at %s is in error: %s", repo.slug, event.ref, build.error)
        return build

    def _repo_lock(self, repo_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(repo_id, threading.Lock())


def describe_error(exc: RunnerError) -> str:
    """The text shown on an error build: every lint issue on its own line, else the message."""
    issues = getattr(exc, "issues", None) or []
    lines = []
    for issue in issues:
        fmt = getattr(issue, "format", None)
        lines.append(fmt() if callable(fmt) else str(issue))
    return "\n".join(lines) if lines else str(exc)


def rebuild_context(build: Build, *, sender: str = "") -> BuildContext:
    """The event that made ``build``, to build it again (restart, promote): its stored context
    under the build's own columns; ``parent`` is the build's number."""
    return dataclasses.replace(
        BuildContext.from_dict(build.context or {}),
        event=build.event,
        ref=build.ref,
        commit=build.commit,
        branch=build.branch,
        tag=build.tag,
        message=build.message,
        author=build.author,
        target=build.target,
        sender=sender or build.sender,
        parent=build.number,
        config_revision=0,  # the file is read again, and numbered again
        # The forge's clone URL came with the delivery: a rebuild clones the repository's own.
        remote_url="",
    )


def _nothing_to_deploy(event: BuildContext, files: dict[str, str]) -> str:
    """Why a promote or rollback is refused: the source build's pipeline has no step for the
    target, and how to give it one."""
    source = f"build #{event.parent}" if event.parent else f"the {event.event}"
    target = event.target
    return (
        f"{source} (commit {event.commit[:7]}) has no step for environment {target}: its "
        f"pipeline would deploy nothing; choose a build whose {', '.join(files)} has a step "
        f"with `when: {{target: {target}}}` (Drone 0.8: `environment: {target}`; Woodpecker: "
        f"`evaluate: 'CI_PIPELINE_DEPLOY_TARGET == \"{target}\"'`) or a pipeline with "
        f"`trigger: {{target: {target}}}`"
    )


def _is_fork(repo: Repo, event: BuildContext) -> bool:
    return trust_class(repo_trusted=repo.trusted, fork=event.fork) == FORK


def _fill_from_commit(event: BuildContext, mirror: Mirror, commit: str) -> None:
    """Complete the event from the repository: the message and author when the event lacks
    them (manual, cron, generic builds), and the changed files when the forge did not list
    them but the previous commit is known (for ``paths`` conditions)."""
    event.commit = commit
    if event.changed_files is None and event.before and event.before != commit:
        event.changed_files = _changed_files(mirror, event.before, commit)
    if event.message and event.author:
        return
    try:
        info = git.Repo(mirror.path).commit(commit)
    except (ValueError, git.GitError) as exc:
        log.warning("cannot read commit %s in %s: %s", commit, mirror.path, exc)
        return
    if not event.message:
        event.message = str(info.message)
    if not event.author:
        event.author = info.author.name or ""
        event.author_email = event.author_email or info.author.email or ""


def _changed_files(mirror: Mirror, before: str, commit: str) -> list[str] | None:
    """Paths changed from the merge base of ``before`` and ``commit``; None when unknown."""
    try:
        out = git.Repo(mirror.path).git.diff("--name-only", "--no-renames", f"{before}...{commit}")
    except git.GitError:
        return None  # ``before`` is not in the mirror (force push, shallow forge history)
    return [line for line in out.splitlines() if line]
