"""``runner exec`` of a Woodpecker file whose ``clone:`` step has commands: the user's clone
step runs instead of the built-in clone, on the real Docker engine (woodpecker-ci/woodpecker
pipeline/frontend/yaml/compiler/compiler.go, ``Compile``: a non-empty ``clone:`` replaces the
default clone step)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

TEST_LABEL = "pipeline-runner.test"
FILE = Path(__file__).parents[1] / "pipeline" / "fidelity" / "woodpecker" / "clone-commands.yaml"


def _git(*args: str, cwd: Path) -> str:
    git = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    done = subprocess.run([*git, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_users_clone_step_fills_the_workspace_and_the_built_in_clone_does_not_run(
    tmp_path, docker_client, run_id
):
    origin = tmp_path / "origin"
    origin.mkdir()
    _git("init", "-q", "-b", "main", cwd=origin)
    (origin / "from-the-repository.txt").write_text("would be cloned by the built-in clone\n")
    _git("add", ".", cwd=origin)
    _git("commit", "-q", "-m", "first", cwd=origin)
    head = _git("rev-parse", "HEAD", cwd=origin)
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(bare)], check=True)
    project = tmp_path / "project"
    project.mkdir()
    (project / ".woodpecker.yml").write_text(FILE.read_text(encoding="utf-8"))
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "exec", ".woodpecker.yml", "--clone", bare.as_uri()]
        + ["--commit", head, "--branch", "main"],
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
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    fetch = [line.split("] ", 1)[1] for line in lines if line.startswith("[fetch ")]
    build = [line.split("] ", 1)[1] for line in lines if line.startswith("[build ")]
    assert "+ git init -q" in fetch
    # The clone step's file is there; the repository's file is not: nothing else cloned.
    assert build[:2] == ["+ cat .cloned-by-fetch", head]
    listed = build[build.index("+ ls -A") + 1 :]
    assert sorted(listed) == [".cloned-by-fetch", ".git"]
    assert not any(line.startswith("[clone ") for line in lines)


def test_a_step_sharing_a_services_name_and_two_steps_sharing_one_all_run(
    tmp_path, docker_client, run_id
):
    """Woodpecker accepts these names (linter.go ``lintServiceNames`` checks services only;
    compiler/dag.go refuses duplicates only with ``depends_on``): every step runs, the
    service stays reachable by its name."""
    project = tmp_path / "project"
    project.mkdir()
    (project / ".woodpecker.yml").write_text(
        "skip_clone: true\n"
        "services:\n"
        "  - name: db\n"
        "    image: runner-test/busybox\n"
        "    commands: [sleep 120]\n"
        "steps:\n"
        "  - name: db\n"
        "    image: runner-test/busybox\n"
        "    commands: [echo step-db $CI_STEP_NAME]\n"
        "  - name: test\n"
        "    image: runner-test/busybox\n"
        "    commands: [echo first-test]\n"
        "  - name: test\n"
        "    image: runner-test/busybox\n"
        "    commands: [echo second-test]\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "exec", ".woodpecker.yml"],
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
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "step-db db" in out and "first-test" in out and "second-test" in out
    table = out.split("STAGE")[-1]
    assert "db-2" in table and "test-2" in table
