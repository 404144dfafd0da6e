"""What the `runner exec` tests share: running the command in a module's ``project`` folder with
every resource labelled for this test, and reading one step's lines from its output."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from runner.testing import TEST_LABEL


@pytest.fixture
def runner_exec(
    docker_client, project, run_id, tmp_path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``runner exec ARGS`` in the module's ``project``; every resource carries the test
    label, and its data directory is the test's own."""

    def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runner", "exec", *args],
            cwd=project,
            env={
                **os.environ,
                "RUNNER_EXEC_LABELS": f"{TEST_LABEL}={run_id}",
                "NO_COLOR": "1",
                "RUNNER_DATA_DIR": str(tmp_path / "data"),
            },
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def step_lines(output: str, step: str) -> list[str]:
    """The log lines of ``step`` in runner exec's output, without the prefix."""
    return [
        line.split("] ", 1)[1]
        for line in output.splitlines()
        if line.startswith(f"[{step} ") and "] " in line
    ]
