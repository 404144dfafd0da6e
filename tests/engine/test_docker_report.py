"""The deploy report file on a real Docker daemon: a step whose environment names the report
(as the agent sets it for builds with a target) finds the directory ready even as a non-root
user, and what it wrote comes back with its result, also when it fails; a step without it gets
no directory and nothing is read; a file larger than the limit comes back as too large; a
directory at the path is no report."""

from __future__ import annotations

import pytest

from runner.deploy_report import MAX_REPORT_BYTES, REPORT_ENV, REPORT_PATH
from runner.pipeline.spec import StageSpec, StepSpec

pytestmark = pytest.mark.docker

BUSYBOX = "runner-test/busybox"


def run_step(engine, commands: list[str], env: dict[str, str], *, user: str = ""):
    step = StepSpec(name="deploy", image=BUSYBOX, commands=commands, user=user)
    stage = StageSpec(name="s", steps=[step])
    run = engine.setup(stage)
    lines: list[str] = []
    try:
        return engine.run_step(run, step, env, lines.append), lines
    finally:
        engine.destroy(run)


def test_a_non_root_step_writes_the_report_and_it_comes_back(engine):
    write = f'echo \'{{"state": "aborted"}}\' > "${REPORT_ENV}"; exit 4'
    result, _lines = run_step(engine, [write], {REPORT_ENV: REPORT_PATH}, user="1000")
    assert (result.status, result.exit_code) == ("failure", 4)
    assert result.report == b'{"state": "aborted"}\n'


def test_without_the_variable_there_is_no_directory_and_nothing_is_read(engine):
    result, lines = run_step(engine, ["test ! -e /run/runner && echo absent"], {})
    assert result.status == "success" and "absent" in lines
    assert result.report == b""


def test_a_step_that_writes_nothing_reports_nothing(engine):
    result, _lines = run_step(engine, ["test -d /run/runner"], {REPORT_ENV: REPORT_PATH})
    assert result.status == "success" and result.report == b""


def test_an_oversized_report_comes_back_larger_than_the_limit(engine):
    fill = f'head -c {5 * MAX_REPORT_BYTES} /dev/zero | tr "\\\\0" x > "${REPORT_ENV}"'
    result, _lines = run_step(engine, [fill], {REPORT_ENV: REPORT_PATH})
    assert result.status == "success"
    assert len(result.report) == MAX_REPORT_BYTES + 1


def test_a_directory_at_the_report_path_is_no_report(engine):
    inner = f"${REPORT_ENV}/deployment.json"
    fill = f'mkdir "${REPORT_ENV}" && echo \'{{"state": "live"}}\' > "{inner}"'
    result, _lines = run_step(engine, [fill], {REPORT_ENV: REPORT_PATH})
    assert result.status == "success" and result.report == b""
