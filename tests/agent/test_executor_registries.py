"""The executor hands a stage's pull credentials to the engine's setup and masks their
passwords in every log line, as it masks secrets (a registry password reaches no container,
but a step could still print one it knows). The real pull with them is proven in
tests/e2e/test_private_images.py; this is the executor's part alone, with the fake engine."""

from __future__ import annotations

from runner.agent.executor import Executor
from runner.agent.masking import MASK
from runner.engine.base import StepLog
from runner.engine.fake import FakeBehaviour, FakeEngine
from runner.pipeline.registry_auth import RegistryAuth
from runner.pipeline.spec import StageSpec, StepSpec


def test_the_engine_gets_the_credentials_and_the_log_never_shows_the_password():
    auths = [RegistryAuth("registry.example.com:5000", "ci", "Pull-Pa55word")]
    engine = FakeEngine({"echo": FakeBehaviour(lines=["login with Pull-Pa55word done"])})
    lines: list[str] = []
    stage = StageSpec(name="s", steps=[StepSpec(name="echo", image="registry.example.com:5000/a")])
    result = Executor(
        engine, stage, registries=auths, log_sink_factory=lambda _n: StepLog(lines.append)
    ).run()
    assert result.status == "success"
    assert engine.registries == auths
    assert lines == [f"login with {MASK} done"]
