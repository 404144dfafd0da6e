"""The deploy report channel on the agent's side, with the fake engine: steps of a build with a
target get ``RUNNER_DEPLOY_REPORT`` (the pipeline cannot move it), a report that follows the
contract is said in the step's log and handed on as checked JSON (secrets masked), a broken
one is a warning and goes nowhere; and the contract's rule itself (``runner.deploy_report``).
The real channel, through Docker and a server, is tests/agents/test_deployments.py."""

from __future__ import annotations

import json

import pytest

from runner.agent.executor import Executor
from runner.agent.masking import MASK
from runner.deploy_report import REPORT_ENV, REPORT_PATH, ReportError, parse_report, read_report
from runner.engine.base import StepLog
from runner.engine.fake import FakeBehaviour, FakeEngine
from runner.pipeline.spec import StageSpec, StepSpec

CANARY = {
    "state": "canary",
    "strategy": "canary",
    "traffic_share": 25,
    "image": "registry/app:1.3.0",
    "message": "1 of 4 replicas",
}


class Logs:
    """A log_sink_factory collecting lines per step."""

    def __init__(self):
        self.lines: dict[str, list[str]] = {}

    def __call__(self, name):
        return StepLog(self.lines.setdefault(name, []).append)


def run(
    report: bytes,
    *,
    deploy_report: bool = True,
    step_env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
):
    engine = FakeEngine({"deploy": FakeBehaviour(report=report)})
    stage = StageSpec(name="s", steps=[StepSpec("deploy", "img", environment=step_env or {})])
    logs, updates = Logs(), []
    executor = Executor(
        engine,
        stage,
        log_sink_factory=logs,
        on_step_update=updates.append,
        deploy_report=deploy_report,
        secrets=secrets,
    )
    result = executor.run()
    return engine, logs.lines.get("deploy", []), updates[-1], result


def test_steps_of_a_deploy_get_the_report_path_even_when_the_pipeline_sets_it():
    engine, _lines, _update, _result = run(b"", step_env={REPORT_ENV: "/elsewhere"})
    assert engine.envs["deploy"][REPORT_ENV] == REPORT_PATH


def test_steps_of_a_build_without_target_get_no_report_path_and_nothing_is_read():
    engine, _lines, update, _result = run(json.dumps(CANARY).encode(), deploy_report=False)
    assert REPORT_ENV not in engine.envs["deploy"]
    assert update.report == b""


def test_a_good_report_is_logged_and_handed_on_as_checked_json():
    _engine, lines, update, _result = run(json.dumps(CANARY).encode())
    assert json.loads(update.report) == CANARY
    assert lines[-1] == (
        "deploy report: canary (canary, 25% of traffic) image registry/app:1.3.0: 1 of 4 replicas"
    )


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"not json", "not valid JSON"),
        (b"[1]", "must be a JSON object"),
        (b'{"state": "everywhere"}', "state must be one of"),
        (b'{"traffic_share": 101}', "traffic_share must be a number from 0 to 100"),
        (b'{"image": 5}', "image must be text"),
        (b'{"owner": "me"}', "unknown key 'owner'"),
        (b" " * 20000, "larger than 16384 bytes"),
        pytest.param(b"[" * 15000, "nested too deeply", id="nested"),
    ],
)
def test_a_broken_report_is_a_warning_in_the_log_and_goes_nowhere(raw, why):
    _engine, lines, update, result = run(raw)
    assert update.report == b""
    assert lines[-1].startswith("warning: deploy report ignored: ")
    assert why in lines[-1]
    assert result.status == "success", "a bad report does not fail the step"


def test_the_rule_keeps_given_keys_and_rounds_the_share():
    assert parse_report({"traffic_share": 12.6}) == {"traffic_share": 13}
    assert read_report(b'{"state": "live"}') == {"state": "live"}
    # The deploy plugin's webhook mode reports what it called (plugins/deploy/deploy_plugin.py).
    assert parse_report({"strategy": "webhook"}) == {"strategy": "webhook"}
    with pytest.raises(ReportError, match="control characters"):
        parse_report({"message": "a\x00b"})
    with pytest.raises(ReportError, match="longer than 500"):
        parse_report({"image": "x" * 501})
    with pytest.raises(ReportError, match="traffic_share"):
        parse_report({"traffic_share": True})


@pytest.mark.parametrize(
    "report",
    [
        {"image": "registry/app:1\nfake line"},
        {"image": "registry/app:1\tx"},
        {"image": "registry/app:1\u2028x"},
        {"image": "app\x9b31m"},
        {"message": "colour \x9b31mred"},
        {"message": "next \x85line"},
        {"message": "bell \x07"},
    ],
)
def test_a_text_with_line_breaks_or_control_characters_is_refused(report):
    with pytest.raises(ReportError, match="control characters or line breaks"):
        parse_report(report)


def test_a_message_over_several_lines_is_kept_on_one():
    raw = json.dumps({"state": "failed", "message": "rollout failed:\r\n\ttask 1 unhealthy\n"})
    _engine, lines, update, _result = run(raw.encode())
    assert json.loads(update.report)["message"] == "rollout failed: task 1 unhealthy "
    assert lines[-1] == "deploy report: failed: rollout failed: task 1 unhealthy "


def test_a_deeply_nested_value_is_refused_by_its_type():
    # What the server checks comes from a request body; its repr would recurse as deep.
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(ReportError, match="state must be one of .*, not list"):
        parse_report({"state": nested})
    with pytest.raises(ReportError, match="not list"):
        parse_report({"traffic_share": nested})


def test_a_secret_written_into_the_report_is_masked_as_in_the_log():
    raw = json.dumps({"state": "live", "message": "token s3cr3t-value used"}).encode()
    _engine, lines, update, _result = run(raw, secrets={"token": "s3cr3t-value"})
    assert json.loads(update.report)["message"] == f"token {MASK} used"
    assert "s3cr3t-value" not in lines[-1]
