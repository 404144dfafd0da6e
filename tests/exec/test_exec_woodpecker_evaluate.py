"""``runner exec`` of Woodpecker files whose steps carry ``when.evaluate``: expr-lang picks
the steps that run on the real Docker engine, and a type error stops the run with the file and
line (woodpecker-ci/woodpecker pipeline/frontend/yaml/constraint/constraint.go,
``Constraint.Match``: ``expr.Compile``/``expr.Run`` errors fail the pipeline)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

TEST_LABEL = "pipeline-runner.test"
FILE = """\
steps:
  - name: deploy
    image: runner-test/busybox
    commands: [echo deploying]
    when:
      evaluate: 'CI_COMMIT_MESSAGE contains "[deploy]" && CI_COMMIT_BRANCH in ["main"]'
  - name: docs
    image: runner-test/busybox
    commands: [echo docs only]
    when:
      evaluate: 'any(split(CI_COMMIT_MESSAGE, " "), {# == "docs:"})'
  - name: typed
    image: runner-test/busybox
    commands: [echo typed]
    when:
      evaluate: 'int(CI_PIPELINE_NUMBER) >= 0 && len(CI_COMMIT_SHA) == 40'
"""


def _exec(project: Path, tmp_path: Path, run_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", "exec", ".woodpecker.yml", "--branch", "main"],
        cwd=project,
        env={
            **os.environ,
            "RUNNER_EXEC_LABELS": f"{TEST_LABEL}={run_id}",
            "NO_COLOR": "1",
            "RUNNER_DATA_DIR": str(tmp_path / "data"),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def _project(tmp_path: Path, text: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".woodpecker.yml").write_text(text)
    git = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run([*git, "add", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "ship it [deploy]"], cwd=project, check=True)
    return project


def test_expr_lang_conditions_choose_the_steps_that_run(tmp_path, docker_client, run_id):
    proc = _exec(_project(tmp_path, FILE), tmp_path, run_id)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = {line.split()[0].lstrip("[") for line in proc.stdout.splitlines() if line[:1] == "["}
    assert {"deploy", "typed"} <= ran and "docs" not in ran
    assert "deploying" in proc.stdout and "docs only" not in proc.stdout


def test_a_type_error_in_evaluate_stops_the_run_naming_the_file_and_line(
    tmp_path, docker_client, run_id
):
    text = FILE.replace("int(CI_PIPELINE_NUMBER) >= 0", "CI_PIPELINE_NUMBER >= 0")
    proc = _exec(_project(tmp_path, text), tmp_path, run_id)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert ".woodpecker.yml:16" in output and "mismatched types string and int" in output
    assert "deploying" not in output  # nothing ran
