"""An in-memory engine for unit tests of the executor: no containers, scripted behaviour.

Each step name maps to a ``FakeBehaviour`` (exit code, log lines, events to wait on or set),
so tests can prove ordering and overlap with events instead of timing. ``events`` records
what happened, in order, from every thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from runner.deploy_report import REPORT_ENV
from runner.engine.base import LogSink, RunId
from runner.pipeline.registry_auth import RegistryAuth
from runner.pipeline.spec import StageSpec, StepResult, StepSpec


@dataclass
class FakeBehaviour:
    """What a fake step does: print ``lines``, wait for ``wait_for`` events, exit."""

    exit_code: int = 0
    lines: list[str] = field(default_factory=list)
    # Names of events in FakeEngine.signals; a step whose event is not set within
    # ``wait_seconds`` fails with exit code 1 (so a wrong schedule fails instead of hanging).
    wait_for: list[str] = field(default_factory=list)
    wait_seconds: float = 10.0
    sets: list[str] = field(default_factory=list)  # events set once the step has started
    block: bool = False  # run until killed
    error: str = ""  # fail to start with this reason (status error)
    report: bytes = b""  # the deploy report file it leaves, read when the env names one


class FakeEngine:
    """Implements ``runner.engine.base.Engine`` in memory. Thread-safe."""

    def __init__(self, behaviours: dict[str, FakeBehaviour] | None = None) -> None:
        self.behaviours = behaviours or {}
        self.events: list[tuple[str, str]] = []
        self.envs: dict[str, dict[str, str]] = {}
        self.copied: list[list[str]] = []  # file names of each copy_to_workspace
        self.signals: dict[str, threading.Event] = {}
        self._killed: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.setup_error: Exception | None = None
        self.leftovers = 0  # what cleanup_leftovers finds and removes
        self._runs: dict[RunId, StageSpec] = {}
        self.registries: list[RegistryAuth] = []  # what the last setup was given

    def signal(self, name: str) -> threading.Event:
        with self._lock:
            return self.signals.setdefault(name, threading.Event())

    def _record(self, what: str, name: str) -> None:
        with self._lock:
            self.events.append((what, name))

    def ping(self) -> None:
        return None

    def setup(self, stage: StageSpec, registries: Sequence[RegistryAuth] = ()) -> RunId:
        self._record("setup", stage.name)
        self.registries = list(registries)
        with self._lock:
            run = RunId(f"fake-{len(self._runs) + 1}")
            self._runs[run] = stage
        if self.setup_error:
            self.destroy(run)  # a failed setup removes what it made, as the protocol says
            raise self.setup_error
        return run

    def copy_to_workspace(self, run: RunId, src_dir: str) -> None:
        self.copied.append(sorted(os.listdir(src_dir)))

    def run_step(self, run: RunId, step: StepSpec, env: dict[str, str], log: LogSink) -> StepResult:
        behaviour = self.behaviours.get(step.name, FakeBehaviour())
        started = time.time()
        if behaviour.error:
            return StepResult(step.name, "error", 0, started, time.time(), behaviour.error)
        killed = self._killed.setdefault(step.name, threading.Event())
        self.envs[step.name] = dict(env)
        self._record("start", step.name)
        for name in behaviour.sets:
            self.signal(name).set()
        for line in behaviour.lines:
            log(line)
        waited_out = False
        for name in behaviour.wait_for:
            deadline = time.monotonic() + behaviour.wait_seconds
            while not self.signal(name).wait(0.01) and not killed.is_set():
                if time.monotonic() > deadline:
                    waited_out = True
                    break
        if step.detach or step.kind == "service":
            return StepResult(step.name, "running", 0, started, time.time())
        if behaviour.block:
            killed.wait(30)
        self._record("end", step.name)
        code = 137 if killed.is_set() else 1 if waited_out else behaviour.exit_code
        status = "success" if code in (0, 78) else "failure"
        report = behaviour.report if env.get(REPORT_ENV) else b""
        return StepResult(step.name, status, code, started, time.time(), report=report)

    def kill_step(self, run: RunId, step: StepSpec) -> None:
        self._record("kill", step.name)
        self._killed.setdefault(step.name, threading.Event()).set()

    def destroy(self, run: RunId) -> None:
        with self._lock:
            stage = self._runs.pop(run, None)
        if stage is not None:
            self._record("destroy", stage.name)

    def cleanup_leftovers(self, agent_name: str | None = None) -> int:
        self._record("cleanup", agent_name or "")
        removed, self.leftovers = self.leftovers, 0
        return removed
