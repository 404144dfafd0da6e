"""The executor's scheduling with the fake engine: order, DAG overlap, run policies, exit 78,
failure_ignored, timeouts, cancel, setup refusal, secrets (and the warning for each one the
server withheld) and clone."""

from __future__ import annotations

import threading

from runner.agent.clone import CloneSource
from runner.agent.executor import Executor
from runner.agent.masking import MASK
from runner.engine.base import StepLog
from runner.engine.fake import FakeBehaviour, FakeEngine
from runner.errors import PolicyError
from runner.pipeline.spec import (
    ALWAYS,
    KIND_CLONE,
    KIND_SERVICE,
    ON_FAILURE,
    SecretRef,
    StageSpec,
    StepSpec,
)


def stage_of(*steps: StepSpec, **kw) -> StageSpec:
    return StageSpec(name="test", steps=list(steps), **kw)


def statuses(result) -> dict[str, str]:
    return {s.name: s.status for s in result.steps}


def starts(engine: FakeEngine) -> list[str]:
    return [name for what, name in engine.events if what == "start"]


class Logs:
    """A log_sink_factory collecting lines per step."""

    def __init__(self):
        self.lines: dict[str, list[str]] = {}
        self.closed: list[str] = []

    def __call__(self, name):
        collected = self.lines.setdefault(name, [])
        return StepLog(collected.append, lambda: self.closed.append(name))


def test_steps_run_in_order_and_the_stage_succeeds():
    engine = FakeEngine()
    updates = []
    stage = stage_of(StepSpec("a", "img"), StepSpec("b", "img"), StepSpec("c", "img"))
    result = Executor(engine, stage, on_step_update=updates.append).run()
    assert result.status == "success"
    assert statuses(result) == {"a": "success", "b": "success", "c": "success"}
    assert starts(engine) == ["a", "b", "c"]
    assert engine.events[0] == ("setup", "test") and engine.events[-1] == ("destroy", "test")
    assert [(u.name, u.status) for u in updates][:2] == [("a", "running"), ("a", "success")]


def test_dag_siblings_overlap():
    # b and c each wait for the other to have started: only parallel execution passes.
    engine = FakeEngine(
        {
            "b": FakeBehaviour(sets=["b"], wait_for=["c"]),
            "c": FakeBehaviour(sets=["c"], wait_for=["b"]),
        }
    )
    stage = stage_of(
        StepSpec("a", "img"),
        StepSpec("b", "img", depends_on=["a"]),
        StepSpec("c", "img", depends_on=["a"]),
        StepSpec("d", "img", depends_on=["b", "c"]),
    )
    result = Executor(engine, stage).run()
    assert statuses(result) == dict.fromkeys("abcd", "success")
    order = starts(engine)
    assert order[0] == "a" and order[-1] == "d"


def test_run_policies_after_a_failure():
    engine = FakeEngine({"build": FakeBehaviour(exit_code=2)})
    stage = stage_of(
        StepSpec("build", "img"),
        StepSpec("test", "img"),
        StepSpec("notify-failure", "img", run_policy=ON_FAILURE),
        StepSpec("always", "img", run_policy=ALWAYS),
    )
    result = Executor(engine, stage).run()
    assert result.status == "failure"
    assert statuses(result) == {
        "build": "failure",
        "test": "skipped",
        "notify-failure": "success",
        "always": "success",
    }
    assert result.steps[0].exit_code == 2


def test_on_failure_step_is_skipped_when_nothing_failed():
    engine = FakeEngine()
    stage = stage_of(StepSpec("a", "img"), StepSpec("alert", "img", run_policy=ON_FAILURE))
    result = Executor(engine, stage).run()
    assert result.status == "success"
    assert statuses(result) == {"a": "success", "alert": "skipped"}


def test_ignored_failure_keeps_the_stage_green():
    engine = FakeEngine({"lint": FakeBehaviour(exit_code=1)})
    stage = stage_of(StepSpec("lint", "img", failure_ignored=True), StepSpec("build", "img"))
    result = Executor(engine, stage).run()
    assert result.status == "success"
    assert statuses(result) == {"lint": "failure", "build": "success"}


def test_exit_78_skips_the_rest_as_success():
    engine = FakeEngine({"check": FakeBehaviour(exit_code=78)})
    stage = stage_of(StepSpec("check", "img"), StepSpec("deploy", "img"))
    result = Executor(engine, stage).run()
    assert result.status == "success"
    assert statuses(result) == {"check": "success", "deploy": "skipped"}
    assert starts(engine) == ["check"]


def test_cancel_kills_the_running_step_and_skips_the_rest():
    engine = FakeEngine({"long": FakeBehaviour(block=True, sets=["long-started"])})
    cancel = threading.Event()
    stage = stage_of(StepSpec("long", "img"), StepSpec("after", "img"))
    canceller = threading.Thread(
        target=lambda: engine.signal("long-started").wait(10) and cancel.set()
    )
    canceller.start()
    result = Executor(engine, stage, cancel=cancel).run()
    canceller.join()
    assert result.status == "killed" and result.error == "cancelled"
    assert statuses(result) == {"long": "killed", "after": "skipped"}
    assert ("kill", "long") in engine.events and engine.events[-1] == ("destroy", "test")


def test_step_timeout_kills_the_step_and_fails_the_stage():
    engine = FakeEngine({"hang": FakeBehaviour(block=True)})
    stage = stage_of(
        StepSpec("hang", "img", timeout=1),
        StepSpec("report", "img", run_policy=ON_FAILURE),
    )
    result = Executor(engine, stage).run()
    assert result.status == "failure"
    assert statuses(result) == {"hang": "killed", "report": "success"}
    assert "timed out" in result.steps[0].error


def test_stage_timeout_kills_the_stage():
    engine = FakeEngine({"hang": FakeBehaviour(block=True)})
    stage = stage_of(StepSpec("hang", "img"), StepSpec("next", "img"), timeout=1)
    result = Executor(engine, stage).run()
    assert result.status == "killed" and "timed out" in result.error
    assert statuses(result) == {"hang": "killed", "next": "skipped"}


def test_setup_refusal_runs_nothing_and_says_why():
    engine = FakeEngine()
    engine.setup_error = PolicyError('step "x": /var/run/docker.sock needs a trusted repository')
    result = Executor(engine, stage_of(StepSpec("x", "img"))).run()
    assert result.status == "error" and "docker.sock" in result.error
    assert statuses(result) == {"x": "skipped"}
    assert starts(engine) == [] and ("destroy", "test") in engine.events


def test_engine_start_error_fails_the_stage():
    engine = FakeEngine({"a": FakeBehaviour(error="image nope:1 not found")})
    result = Executor(engine, stage_of(StepSpec("a", "nope:1"), StepSpec("b", "img"))).run()
    assert result.status == "failure"
    assert statuses(result) == {"a": "error", "b": "skipped"}
    assert result.steps[0].error == "image nope:1 not found"


def test_secrets_reach_the_env_and_are_masked_in_logs():
    engine = FakeEngine({"a": FakeBehaviour(lines=["token is s3cr3t!", "key:", "L1", "L2"])})
    logs = Logs()
    step = StepSpec(
        "a",
        "img",
        environment={"LEVEL": "step"},
        secrets=[SecretRef("TOKEN", "token"), SecretRef("MISSING", "nope")],
    )
    stage = stage_of(step, environment={"LEVEL": "stage", "STAGE_ONLY": "1"})
    Executor(
        engine,
        stage,
        secrets={"token": "s3cr3t!", "key": "L1\nL2\n"},
        environ={"LEVEL": "agent", "AGENT_ONLY": "1"},
        log_sink_factory=logs,
    ).run()
    env = engine.envs["a"]
    assert env["TOKEN"] == "s3cr3t!" and env["MISSING"] == ""
    assert env["LEVEL"] == "step" and env["STAGE_ONLY"] == "1" and env["AGENT_ONLY"] == "1"
    assert logs.lines["a"][-4:] == [f"token is {MASK}", "key:", MASK, MASK]
    assert any("nope is not available" in line for line in logs.lines["a"])
    assert logs.closed == ["a"]


def test_each_withheld_secret_is_a_warning_at_the_start_of_its_step_only():
    engine = FakeEngine({"a": FakeBehaviour(lines=["ran a"]), "b": FakeBehaviour(lines=["ran b"])})
    logs = Logs()
    Executor(
        engine,
        stage_of(StepSpec("a", "img"), StepSpec("b", "img")),
        withheld={"a": {"deploy_key": "no such secret in this repository"}},
        log_sink_factory=logs,
    ).run()
    assert logs.lines["a"] == [
        "warning: secret deploy_key was not given to this step: no such secret in this repository",
        "ran a",
    ]
    assert logs.lines["b"] == ["ran b"]


def test_services_start_before_steps():
    engine = FakeEngine()
    stage = stage_of(
        StepSpec("test", "img"),
        services=[StepSpec("db", "img", kind=KIND_SERVICE)],
    )
    result = Executor(engine, stage).run()
    assert starts(engine) == ["db", "test"]
    assert statuses(result) == {"db": "success", "test": "success"}


def test_clone_fills_the_workspace_from_a_mirror(bare_repo, tmp_path):
    url, shas = bare_repo
    engine = FakeEngine()
    logs = Logs()
    stage = stage_of(StepSpec("clone", "", kind=KIND_CLONE), StepSpec("build", "img"))
    source = CloneSource(url, commit=shas[0], cache_dir=str(tmp_path / "mirrors"))
    result = Executor(engine, stage, clone_source=source, log_sink_factory=logs).run()
    assert statuses(result) == {"clone": "success", "build": "success"}
    assert engine.copied == [[".git", ".pipeline.yml", "file1.txt"]]
    assert f"workspace at commit {shas[0]}" in logs.lines["clone"]


def test_clone_without_a_source_is_skipped_and_a_bad_source_fails(tmp_path):
    stage = stage_of(StepSpec("clone", "", kind=KIND_CLONE), StepSpec("build", "img"))
    result = Executor(FakeEngine(), stage).run()
    assert statuses(result) == {"clone": "skipped", "build": "success"}
    bad = CloneSource((tmp_path / "nope.git").as_uri(), cache_dir=str(tmp_path / "m"))
    result = Executor(FakeEngine(), stage, clone_source=bad).run()
    assert result.status == "failure"
    assert statuses(result) == {"clone": "failure", "build": "skipped"}


def test_a_dependency_cycle_fails_instead_of_hanging():
    engine = FakeEngine()
    stage = stage_of(
        StepSpec("a", "img", depends_on=["b"]),
        StepSpec("b", "img", depends_on=["a"]),
        StepSpec("c", "img", depends_on=[]),
    )
    result = Executor(engine, stage).run()
    assert result.status == "failure"
    assert statuses(result) == {"a": "skipped", "b": "skipped", "c": "success"}


def test_a_log_sink_that_cannot_open_ends_its_step_in_error_not_the_stage_in_a_hang():
    def factory(name: str) -> StepLog:
        if name == "b":
            raise OSError("log spool full")
        return StepLog(lambda line: None)

    engine = FakeEngine()
    stage = stage_of(StepSpec("a", "img"), StepSpec("b", "img"), StepSpec("c", "img"))
    outcome: list = []
    worker = threading.Thread(
        target=lambda: outcome.append(Executor(engine, stage, log_sink_factory=factory).run())
    )
    worker.start()
    worker.join(60)
    assert outcome, "the stage never ended"
    result = outcome[0]
    assert result.status == "failure"
    assert statuses(result) == {"a": "success", "b": "error", "c": "skipped"}
    assert "log spool full" in next(s.error for s in result.steps if s.name == "b")
