"""Runs one compiled stage on an engine: clone, services, steps, policies, timeouts, cancel.

Public API (used by the agent and by ``runner exec``)::

    executor = Executor(
        engine,                      # runner.engine.base.Engine (DockerEngine, FakeEngine)
        stage,                       # runner.pipeline.spec.StageSpec
        secrets={"name": "value"},   # values for the steps' SecretRefs; all are masked
        registries=[RegistryAuth(...)],  # pull credentials for the engine; passwords masked
        environ={"K": "V"},          # agent-wide variables, lowest precedence
        log_sink_factory=factory,    # factory(step_name) -> StepLog(write, close)
        on_step_update=callback,     # callback(StepResult): status "running", then final
        cancel=threading.Event(),    # set from any thread to stop the stage within seconds
        clone_source=CloneSource(url, commit=..., ref=..., branch=..., cache_dir=...),
        progress=BuildProgress(started, {"stage": "status"}),  # the build's other stages
        withheld={"step": {"name": "why"}},  # secrets a step asked for and did not get
        deploy_report=True,          # steps get RUNNER_DEPLOY_REPORT (builds with a target)
    )
    result = executor.run()          # StageResult(status, steps, error); never raises

Order: ``engine.setup`` → clone (a step named ``clone``; skipped without a ``clone_source``)
→ services (started detached) → steps, in order, or as a DAG when any step has ``depends_on``
(steps without it then start at once, and independent siblings run in parallel threads) →
``engine.destroy`` (always, even after a failed setup or a cancel).

Rules: a step runs when its run policy fits the stage so far (``on-success``: nothing failed;
``on-failure``: something failed; ``always``). A failure of a step with ``failure_ignored``
does not fail the stage. Exit code 78 ends the stage early as a success: the steps not yet
started are skipped. A step past its own ``timeout`` is killed (status ``killed``) and fails
the stage; past the stage's ``timeout``, or on ``cancel``, running steps are killed, the rest
skipped, and the stage ends ``killed``. Every log line is masked (``runner.agent.masking``)
before it reaches a sink. Each step's environment gets, as it starts, the variables of the
build's state at that moment (``runner.pipeline.runtime_env``: ``DRONE_BUILD_STATUS``,
``DRONE_FAILED_STEPS``, ``CI_PIPELINE_STATUS``...), from the stage's results so far and
``progress``. ``log_sink_factory`` and ``on_step_update`` are called from worker threads, so
they must be thread-safe.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from graphlib import TopologicalSorter

from runner import core
from runner.agent.clone import CloneSource, clone_workspace
from runner.agent.masking import Masker
from runner.deploy_report import REPORT_ENV, REPORT_PATH, ReportError, read_report
from runner.deploy_report import describe as describe_report
from runner.engine.base import Engine, LogSink, RunId, StepLog
from runner.errors import RunnerError
from runner.pipeline.graph import without_cycles
from runner.pipeline.plugin_settings import masked_forms
from runner.pipeline.registry_auth import RegistryAuth
from runner.pipeline.runtime_env import BuildProgress, StepOutcome, runtime_variables
from runner.pipeline.secret_subst import put_secrets
from runner.pipeline.spec import (
    ALWAYS,
    EXIT_SKIP,
    KIND_CLONE,
    KIND_SERVICE,
    ON_FAILURE,
    ON_SUCCESS,
    StageSpec,
    StepResult,
    StepSpec,
)

__all__ = ["CloneSource", "Executor", "StageResult"]

_FAILED = (core.FAILURE, core.ERROR, core.KILLED)
_POLL = 0.05  # seconds between checks of cancel and the stage deadline


@dataclass
class StageResult:
    """How a stage ended: ``status`` (success, failure, error, killed) and every step's result,
    in the order clone, services, steps."""

    status: str
    steps: list[StepResult] = field(default_factory=list)
    error: str = ""
    started: float = 0.0
    finished: float = 0.0


def _discard(_line: str) -> None:
    return None


def _no_log(_name: str) -> StepLog:
    return StepLog(_discard)


class Executor:
    """Runs one stage once. Not reusable; ``run`` is called from one thread."""

    def __init__(
        self,
        engine: Engine,
        stage: StageSpec,
        *,
        secrets: dict[str, str] | None = None,
        environ: dict[str, str] | None = None,
        log_sink_factory: Callable[[str], StepLog] | None = None,
        on_step_update: Callable[[StepResult], None] | None = None,
        cancel: threading.Event | None = None,
        clone_source: CloneSource | None = None,
        progress: BuildProgress | None = None,
        registries: list[RegistryAuth] | None = None,
        withheld: dict[str, dict[str, str]] | None = None,
        deploy_report: bool = False,
    ) -> None:
        self.engine = engine
        self.stage = stage
        self.secrets = dict(secrets or {})
        self.registries = list(registries or [])
        self.withheld = dict(withheld or {})
        self.deploy_report = deploy_report
        self.environ = dict(environ or {})
        self.log_sink_factory = log_sink_factory or _no_log
        self.on_step_update = on_step_update or (lambda _result: None)
        self.cancel = cancel or threading.Event()
        self.clone_source = clone_source
        self.progress = progress
        self._started = 0.0  # when execute began: the stage's start in the step variables
        # A registry password reaches no container, but a step could still print it.
        self.masker = Masker(
            masked_forms([*self.secrets.values(), *(r.password for r in self.registries)])
        )
        self.units = self._units()
        self.results: dict[str, StepResult] = {}
        self._lock = threading.Condition()
        self._running: dict[str, StepSpec] = {}
        self._killed: dict[str, str] = {}  # step name -> why the executor killed it
        self._failed = False
        self._skip_rest = False
        self._stop_reason = ""
        self._deferred_close: list[Callable[[], None]] = []
        self._torn_down = False
        self._run: RunId | None = None  # what engine.setup handed out
        self._sorter: TopologicalSorter[str] | None = None  # hands out units as they get ready

    def _units(self) -> list[StepSpec]:
        """Clone, services and steps, in start order, with the clone always first."""
        steps = list(self.stage.steps)
        clones = [s for s in steps if s.kind == KIND_CLONE]
        steps = [s for s in steps if s.kind != KIND_CLONE]
        if not clones and self.clone_source and not self.stage.clone.disable:
            clones = [StepSpec(name="clone", image="", kind=KIND_CLONE)]
        services = [s if s.kind == KIND_SERVICE else _as_service(s) for s in self.stage.services]
        return clones + services + steps

    def _dependencies(self) -> dict[str, list[str]]:
        """Each unit's prerequisites: the DAG when ``depends_on`` is used, else a chain."""
        names = [u.name for u in self.units]
        known = set(names)
        head = [u.name for u in self.units if u.kind in (KIND_CLONE, KIND_SERVICE)]
        steps = [u for u in self.units if u.kind not in (KIND_CLONE, KIND_SERVICE)]
        deps: dict[str, list[str]] = {}
        for i, name in enumerate(head):
            deps[name] = head[:i]
        dag = any(s.depends_on for s in steps)
        previous = head[-1:] if head else []
        for step in steps:
            if dag:
                wanted = [d for d in step.depends_on if d in known and d != step.name]
                deps[step.name] = wanted + [h for h in head if h not in wanted]
            else:
                deps[step.name] = list(previous)
                previous = [step.name]
        return deps

    def run(self) -> StageResult:
        """Run the stage to its end, remove what it made and return its result. Never raises."""
        try:
            return self.execute()
        finally:
            self.teardown()

    @property
    def logs_after_steps(self) -> bool:
        """Whether output may still come after the last step (services, detached steps log
        until ``teardown``), so the stage's logs are complete only after it."""
        return any(u.kind == KIND_SERVICE or u.detach for u in self.units)

    def execute(self) -> StageResult:
        """Run the stage to its end and return its result, leaving its containers, network and
        volumes to ``teardown`` (which the caller must call, also after an exception)."""
        started = self._started = time.time()
        try:
            self._run = self.engine.setup(self.stage, self.registries)
        except Exception as exc:  # policy refusal, engine down: the stage is an error
            message = str(exc) if isinstance(exc, RunnerError) else f"engine setup failed: {exc}"
            for unit in self.units:
                self._finish(StepResult(unit.name, core.SKIPPED))
            return self._result(core.ERROR, message, started)
        self._schedule()
        if self._stop_reason:
            return self._result(core.KILLED, self._stop_reason, started)
        return self._result(core.FAILURE if self._failed else core.SUCCESS, "", started)

    def teardown(self) -> None:
        """Remove the stage's containers, network and volumes and end the services' logs.
        Never raises; a second call does nothing."""
        if self._torn_down:
            return
        self._torn_down = True
        if self._run is not None:  # a failed setup removed what it made itself
            self.engine.destroy(self._run)
        for close in self._deferred_close:  # services log until destroy
            close()

    def _result(self, status: str, error: str, started: float) -> StageResult:
        steps = [self.results[u.name] for u in self.units if u.name in self.results]
        return StageResult(status, steps, error, started, time.time())

    def _schedule(self) -> None:
        """Start each unit once the units it depends on have ended (``graphlib`` hands them out
        as they become ready; units ready together start in stage order), until all ended."""
        # A spec the linter refuses may hold a cycle: its units (and what depends on them)
        # never start and fail the stage; the rest of the stage runs.
        deps, in_cycle = without_cycles(self._dependencies())
        by_name = {u.name: u for u in self.units}
        position = {u.name: index for index, u in enumerate(self.units)}
        sorter = self._sorter = TopologicalSorter(deps)
        sorter.prepare()
        threads: list[threading.Thread] = []
        deadline = time.monotonic() + self.stage.timeout if self.stage.timeout > 0 else None
        with self._lock:
            while sorter.is_active():
                self._check_stop(deadline)
                # A skip ends a unit at once and may make its dependents ready: ask again.
                while ready := sorted(sorter.get_ready(), key=position.__getitem__):
                    for name in ready:
                        unit = by_name[name]
                        if name in in_cycle or any(d in in_cycle for d in deps[name]):
                            in_cycle.add(name)
                            why_not = "dependency cycle"
                        else:
                            why_not = self._why_not_run(unit)
                        if why_not:
                            self._finish(StepResult(unit.name, core.SKIPPED, error=why_not))
                            sorter.done(name)
                            continue
                        self._running[unit.name] = unit
                        thread = threading.Thread(
                            target=self._run_unit, args=(unit,), name=f"step-{unit.name}"
                        )
                        thread.start()
                        threads.append(thread)
                self._lock.wait(_POLL)
            if in_cycle:  # known once the rest has run, so run policies did not see it
                self._failed = True
        for thread in threads:
            thread.join()

    def _check_stop(self, deadline: float | None) -> None:
        """Kill the running steps once on cancel or when the stage deadline has passed."""
        if self._stop_reason:
            return
        if self.cancel.is_set():
            self._stop_reason = "cancelled"
        elif deadline is not None and time.monotonic() > deadline:
            self._stop_reason = f"stage timed out after {self.stage.timeout}s"
        else:
            return
        for unit in list(self._running.values()):
            self._kill(unit, self._stop_reason)

    def _kill(self, unit: StepSpec, reason: str) -> None:
        self._killed.setdefault(unit.name, reason)
        if unit.kind == KIND_CLONE or self._run is None:
            return  # the clone runs in-process and ends on its own within seconds
        try:
            self.engine.kill_step(self._run, unit)
        except Exception:  # the container may be gone already; kill_step is best effort
            pass

    def _why_not_run(self, unit: StepSpec) -> str:
        if self._stop_reason:
            return self._stop_reason
        if self._skip_rest:
            return "an earlier step exited 78: rest of the stage skipped"
        if unit.kind == KIND_CLONE and self.clone_source is None:
            return "no repository to clone: the workspace is used as it is"
        policy = unit.run_policy
        if policy == ON_SUCCESS and self._failed:
            return "runs on success only"
        if policy == ON_FAILURE and not self._failed:
            return "runs on failure only"
        if policy not in (ON_SUCCESS, ON_FAILURE, ALWAYS):
            return f"run policy {policy}"
        return ""

    def _run_unit(self, unit: StepSpec) -> None:
        started = time.time()
        self._update(StepResult(unit.name, core.RUNNING, started=started))
        timer = None
        if unit.timeout > 0 and unit.kind != KIND_CLONE:
            reason = f"step timed out after {unit.timeout}s"
            timer = threading.Timer(unit.timeout, self._kill, args=(unit, reason))
            timer.daemon = True
            timer.start()
        step_log: StepLog | None = None
        try:
            # Inside the try: a broken log sink ends the step in error, never the thread
            # silently, which would leave the stage waiting for the step forever.
            step_log = self.log_sink_factory(unit.name)
            sink = self.masker.wrap(step_log.write)
            if unit.kind == KIND_CLONE:
                result = self._clone(unit, sink, started)
            else:
                env = self._environment(unit, sink)
                result = self._run_container(unit, env, sink)
        except Exception as exc:  # an engine bug must not take the stage down with it
            result = StepResult(unit.name, core.ERROR, error=f"{type(exc).__name__}: {exc}")
        finally:
            if timer:
                timer.cancel()
            if step_log is None:
                pass
            elif unit.detach or unit.kind == KIND_SERVICE:
                self._deferred_close.append(step_log.close)
            else:
                step_log.close()
        result.started = result.started or started
        result.finished = result.finished or time.time()
        if result.status == core.RUNNING:  # services and detached steps: started is success
            result.status = core.SUCCESS
        with self._lock:
            if unit.name in self._killed:
                result.status = core.KILLED
                result.error = self._killed[unit.name]
            elif result.exit_code == EXIT_SKIP and result.status == core.SUCCESS:
                self._skip_rest = True
            self._running.pop(unit.name, None)
            self._finish(result, unit)
            if self._sorter is not None:
                self._sorter.done(unit.name)
            self._lock.notify_all()

    def _active_run(self) -> RunId:
        """The engine's run of this stage (units are scheduled only after its setup)."""
        if self._run is None:
            raise RunnerError(f'stage "{self.stage.name}" was not set up')
        return self._run

    def _run_container(self, unit: StepSpec, env: dict[str, str], sink: LogSink) -> StepResult:
        result = self.engine.run_step(self._active_run(), unit, env, sink)
        if result.report:
            result.report = _checked_report(result.report, sink, self.masker)
        return result

    def _clone(self, unit: StepSpec, sink: LogSink, started: float) -> StepResult:
        if self.clone_source is None:  # _why_not_run skips the clone then; kept for typing
            return StepResult(unit.name, core.SKIPPED, 0, started, time.time())
        try:
            sha = clone_workspace(
                self.engine, self._active_run(), self.stage, self.clone_source, sink
            )
        except RunnerError as exc:
            sink(f"clone failed: {exc}")
            return StepResult(unit.name, core.FAILURE, 1, started, time.time(), str(exc))
        sink(f"workspace at commit {sha}")
        return StepResult(unit.name, core.SUCCESS, 0, started, time.time())

    def _environment(self, unit: StepSpec, sink: LogSink) -> dict[str, str]:
        """Agent globals → stage environment → step environment → the build's state now →
        secrets."""
        env = dict(self.environ)
        env.update(self.stage.environment)
        env.update(unit.environment)
        env.update(self._runtime_variables())
        if self.deploy_report:  # the agent's, whatever the pipeline set
            env[REPORT_ENV] = REPORT_PATH
        env.setdefault("DRONE_STEP_NAME", unit.name)
        env.setdefault("CI_STEP_NAME", unit.name)
        for name, reason in self.withheld.get(unit.name, {}).items():
            sink(f"warning: secret {name} was not given to this step: {reason}")
        for warning in put_secrets(env, unit.secrets, self.secrets):
            sink(warning)
        return env

    def _runtime_variables(self) -> dict[str, str]:
        """The build's state as a step starting now sees it (``runtime_env``)."""
        ignored = {u.name for u in self.units if u.failure_ignored}
        with self._lock:
            ended = [
                StepOutcome(r.name, r.status, r.name in ignored) for r in self.results.values()
            ]
        return runtime_variables(
            stage=self.stage.name,
            stage_started=self._started,
            ended=ended,
            progress=self.progress,
            now=time.time(),
        )

    def _finish(self, result: StepResult, unit: StepSpec | None = None) -> None:
        """Record a final result (caller holds the lock or runs before any thread started)."""
        self.results[result.name] = result
        ignored = unit is not None and unit.failure_ignored
        if result.status in _FAILED and not ignored:
            self._failed = True
        self._update(result)

    def _update(self, result: StepResult) -> None:
        try:
            self.on_step_update(result)
        except Exception:  # a broken listener must not stop the build
            pass


def _checked_report(raw: bytes, sink: LogSink, masker: Masker) -> bytes:
    """The step's deploy report as checked JSON, its texts masked as log lines are (a secret
    written into its message is no more shown than one printed), said in its log; b"" (and a
    warning saying why) when it breaks the contract of ``runner.deploy_report``."""
    try:
        report = read_report(raw)
    except ReportError as exc:
        sink(f"warning: deploy report ignored: {exc}")
        return b""
    for key, value in report.items():
        if isinstance(value, str):
            report[key] = masker.mask(value)
    sink(f"deploy report: {describe_report(report)}")
    return json.dumps(report).encode()


def _as_service(step: StepSpec) -> StepSpec:
    """A copy of ``step`` marked as a service, for entries of ``stage.services``."""
    return StepSpec(**{**step.__dict__, "kind": KIND_SERVICE})
