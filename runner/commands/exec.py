"""``runner exec [FILE]``: run a pipeline file on the local Docker engine, like ``drone exec``.

The file (or the one found by the lookup order in the current directory) goes through the
same chain as on the server (``runner.pipeline.config.load_pipeline``), then each stage runs
through the agent's ``Executor`` on a ``DockerEngine``. The working tree is bind-mounted as
the workspace, so no clone happens unless ``--clone URL`` is given. Logs go to the terminal
prefixed by step name and elapsed time; a summary table follows. Exit status: 0 when every
stage succeeded, 1 when one failed, 2 for a pipeline or usage error, 130 when interrupted.
SIGINT/SIGTERM stop the running containers and remove everything the run created.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from runner.agent.clone import CloneSource
from runner.agent.executor import Executor, StageResult
from runner.commands import exec_context as ectx
from runner.core import PENDING, RUNNING, SKIPPED
from runner.engine.base import Engine, StepLog
from runner.errors import PipelineError, RunnerError
from runner.pipeline.readiness import RUN, SKIP, WAIT, readiness
from runner.pipeline.registry_auth import pull_secret_auths
from runner.pipeline.runtime_env import BuildProgress
from runner.pipeline.spec import BuildContext, StageSpec

if TYPE_CHECKING:
    from runner.pipeline.config import CompiledBuild

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def register(group: click.Group) -> None:
    group.add_command(exec_command)


class TerminalLog:
    """Writes step lines as ``[step  12.3s] line`` to ``out``; thread-safe."""

    def __init__(self, out: TextIO, width: int = 12):
        self.out = out
        self.width = width
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def sink_for(self, name: str) -> Callable[[str], None]:
        label = name[: self.width].ljust(self.width)

        def sink(line: str) -> None:
            elapsed = time.monotonic() - self.started
            with self._lock:
                self.out.write(f"[{label} {elapsed:6.1f}s] {line}\n")
                self.out.flush()

        return sink

    def step_log(self, name: str) -> StepLog:
        """The log of step ``name`` as the executor takes it (nothing to close on a terminal)."""
        return StepLog(self.sink_for(name))

    def say(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()


def summary(results: list[tuple[StageSpec, StageResult]]) -> str:
    """The table printed at the end: stage, step, status, duration."""
    rows = [("STAGE", "STEP", "STATUS", "DURATION")]
    for stage, result in results:
        for step in result.steps:
            took = step.finished - step.started if step.finished and step.started else 0.0
            status = step.status + (f" ({step.exit_code})" if step.exit_code else "")
            rows.append((stage.name, step.name, status, f"{took:.1f}s"))
        if not result.steps:
            rows.append((stage.name, "-", result.status, "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def run_stages(
    stages: list[StageSpec],
    *,
    engine_factory: Callable[[StageSpec], Engine],
    log: TerminalLog,
    secrets: dict[str, str] | None = None,
    environ: dict[str, str] | None = None,
    clone_source: CloneSource | None = None,
    cancel: threading.Event | None = None,
) -> list[tuple[StageSpec, StageResult]]:
    """Run ``stages`` one after another, in the order the server's queue would hand them to a
    single agent: the first stage in file order that ``runner.pipeline.readiness`` lets start.
    A stage whose dependencies did not go its way (``on-success``/``on-failure``) is skipped.
    Returns each stage's result, in the order they ran."""
    cancel = cancel or threading.Event()
    started = time.time()
    results: list[tuple[StageSpec, StageResult]] = []
    statuses = {stage.name: PENDING for stage in stages}
    waiting = list(stages)
    while waiting:
        stage, verdict = _next_stage(waiting, statuses)
        waiting.remove(stage)
        if cancel.is_set() or verdict != RUN:
            log.say(f"--- stage {stage.name}: skipped")
            statuses[stage.name] = SKIPPED
            results.append((stage, StageResult(SKIPPED)))
            continue
        log.say(f"--- stage {stage.name}")
        result = Executor(
            engine_factory(stage),
            stage,
            secrets=secrets,
            environ=environ,
            log_sink_factory=log.step_log,
            on_step_update=lambda r: _report(log, r),
            cancel=cancel,
            clone_source=clone_source,
            progress=BuildProgress(started, {**statuses, stage.name: RUNNING}),
            # The secrets given to runner exec are the user's own: Drone's pull secrets
            # among them are Docker configs for the stage's image pulls.
            registries=pull_secret_auths(stage.pull_secrets, secrets or {}),
        ).run()
        if result.error:
            log.say(f"--- stage {stage.name}: {result.status}: {result.error}")
        statuses[stage.name] = result.status
        results.append((stage, result))
    return results


def _next_stage(waiting: list[StageSpec], statuses: dict[str, str]) -> tuple[StageSpec, str]:
    """The first stage of ``waiting`` that need not wait, with its verdict (run or skip).

    Should every one wait (a dependency cycle, which the linter refuses), the first is
    skipped, so the run still ends.
    """
    for stage in waiting:
        verdict = readiness(stage.depends_on, stage.run_policy, statuses)
        if verdict != WAIT:
            return stage, verdict
    return waiting[0], SKIP


def _report(log: TerminalLog, result) -> None:
    if result.status in ("running", "success", "skipped"):
        return
    detail = f": {result.error}" if result.error else ""
    code = f" (exit code {result.exit_code})" if result.exit_code else ""
    log.sink_for(result.name)(f"step {result.status}{code}{detail}")


def compile_files(
    paths: list[Path],
    ctx: BuildContext,
    *,
    environ: dict[str, str],
    trusted: bool,
    privileged_images: list[str],
    substitutable: Collection[str] = (),
) -> CompiledBuild:
    """The ``CompiledBuild`` of the pipeline files, through the server's own chain.
    ``substitutable``: names of the secrets a Drone 0.8 file may substitute."""
    from runner.pipeline.config import load_pipeline

    files = {str(p): p.read_text(encoding="utf-8") for p in paths}
    return load_pipeline(
        files,
        ctx,
        environ=environ,
        trusted=trusted,
        privileged_images=privileged_images,
        substitutable=substitutable,
    )


class _Interrupts:
    """Turns SIGINT/SIGTERM into ``cancel`` for the duration of a ``with`` block."""

    def __init__(self, cancel: threading.Event):
        self.cancel = cancel
        self.signal = 0
        self._previous: dict[int, Any] = {}  # what signal.signal returned: handlers or ints

    def _handle(self, signum, _frame) -> None:
        self.signal = signum
        self.cancel.set()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


@click.command("exec")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@ectx.context_options
@click.option("--stage", "stage_names", multiple=True, help="run only this stage (repeatable)")
@click.option("--timeout", help="stage timeout: 90, 90s, 10m, 1h")
@click.option(
    "--clone",
    "clone_url",
    metavar="URL",
    help="clone this repository into a volume instead of mounting the working tree",
)
def exec_command(
    file,
    event,
    branch,
    tag,
    ref,
    commit,
    target,
    secret_pairs,
    secrets_file,
    env_pairs,
    trusted,
    stage_names,
    timeout,
    privileged_images,
    clone_url,
    repo,
    config_revision,
):
    """Run a pipeline file on the local Docker engine."""
    options = dict(
        event=event,
        branch=branch,
        tag=tag,
        ref=ref,
        commit=commit,
        target=target,
        secret_pairs=secret_pairs,
        secrets_file=secrets_file,
        env_pairs=env_pairs,
        trusted=trusted,
        stage_names=stage_names,
        timeout=timeout,
        privileged_images=privileged_images,
        clone_url=clone_url,
        repo=repo,
        config_revision=config_revision,
    )
    try:
        code = exec_main(file=file, **options)
    except KeyboardInterrupt:  # Ctrl-C before any container existed: nothing to clean up
        code = EXIT_INTERRUPTED
    sys.exit(code)


def exec_main(*, file=None, out: TextIO | None = None, cancel=None, **options) -> int:
    """The body of ``runner exec``, callable in-process (tests, benchmarks). Returns the exit
    status; ``cancel`` (an Event) stops the run like Ctrl-C."""
    out = out or sys.stdout
    err = sys.stderr if out is sys.stdout else out
    cancel = cancel or threading.Event()
    try:
        directory = ectx.current_dir()
        paths = [Path(file)] if file else ectx.find_pipeline_files(directory)
        inputs = ectx.read_inputs(directory, options)
        ctx, secrets, environ = inputs.ctx, inputs.secrets, inputs.environ
        timeout = ectx.parse_duration(options["timeout"]) if options.get("timeout") else 0
        privileged = inputs.privileged_images
        build = compile_files(
            paths,
            ctx,
            environ=environ,
            trusted=ctx.trusted,
            privileged_images=privileged,
            # The secrets given here are the user's own: a Drone 0.8 file may substitute them.
            substitutable=list(secrets),
        )
    except PipelineError as exc:
        for line in [_issue_text(i) for i in exc.issues] or [f"error: {exc}"]:
            err.write(line + "\n")
        return EXIT_USAGE
    except (RunnerError, OSError) as exc:
        err.write(f"error: {exc}\n")
        return EXIT_USAGE
    for warning in build.warnings:
        err.write(_issue_text(warning) + "\n")
    for name in build.skipped:
        err.write(f"stage {name}: skipped, its trigger does not match this build\n")
    stages = list(build.stages)
    wanted = set(options.get("stage_names") or ())
    if wanted:
        unknown = wanted - {s.name for s in stages}
        if unknown:
            names = ", ".join(s.name for s in stages) or "none"
            err.write(f"error: no stage named {', '.join(sorted(unknown))} (stages: {names})\n")
            return EXIT_USAGE
        stages = [s for s in stages if s.name in wanted]
        for stage in stages:
            stage.depends_on = [d for d in stage.depends_on if d in wanted]
    if not stages:
        err.write("nothing to run: no stage matches this event, branch or ref\n")
        return EXIT_OK
    for stage in stages:
        if timeout:
            stage.timeout = timeout
    return _run(stages, options, secrets, environ, privileged, ctx, out, cancel)


def _run(stages, options, secrets, environ, privileged, ctx, out, cancel) -> int:
    from runner.engine.docker import DockerEngine

    clone_url = options.get("clone_url")
    workspace = None if clone_url else str(ectx.current_dir())
    agent = f"exec-{os.getpid()}"
    try:
        engine = DockerEngine(
            agent_name=agent,
            trusted=bool(options.get("trusted")),
            privileged_images=privileged,
            workspace_host_path=workspace,
            extra_labels=_labels_from_env(),
        )
    except RunnerError as exc:
        (sys.stderr if out is sys.stdout else out).write(f"error: {exc}\n")
        return EXIT_USAGE
    source = None
    if clone_url:
        from runner.settings import load_settings

        cache = str(load_settings().data_path / "mirrors")
        source = CloneSource(
            clone_url, commit=ctx.commit, ref=ctx.ref, branch=ctx.branch, cache_dir=cache
        )
    log = TerminalLog(out)
    with _Interrupts(cancel) as interrupts:
        results = run_stages(
            stages,
            engine_factory=lambda _stage: engine,
            log=log,
            secrets=secrets,
            environ=environ,
            clone_source=source,
            cancel=cancel,
        )
    log.say("")
    log.say(summary(results))
    if interrupts.signal or cancel.is_set():
        return EXIT_INTERRUPTED
    ok = all(r.status in ("success", "skipped") for _, r in results)
    return EXIT_OK if ok else EXIT_FAILED


def _issue_text(issue) -> str:
    """A lint issue as ``file:line: level: path: message`` (its own ``format``)."""
    fmt = getattr(issue, "format", None)
    return fmt() if callable(fmt) else str(issue)


def _labels_from_env() -> dict[str, str]:
    """Extra labels for every resource, from ``RUNNER_EXEC_LABELS=k=v,k2=v2`` (tests use it
    to mark what they create)."""
    from runner.labels import parse_labels

    return parse_labels(os.environ.get("RUNNER_EXEC_LABELS", ""))
