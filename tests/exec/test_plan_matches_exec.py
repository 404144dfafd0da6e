"""`runner plan` and `runner exec` of the same file for the same event agree, on the real Docker
engine: the steps the plan says run are the ones whose containers run, a step it shows skipped
with its reason never starts, and the environment it prints is the one the step sees.

Drone's compiler keeps such a step with ``RunPolicy = runtime.RunNever``
(drone-runners/drone-runner-docker, engine/compiler/compiler.go, ``Compiler.Compile``) and its
runtime never starts a container for it; Woodpecker leaves it out of the compiled config
(woodpecker-ci/woodpecker, pipeline/frontend/yaml/compiler/compiler.go, ``Compiler.Compile``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import BUSYBOX, TEST_LABEL

pytestmark = pytest.mark.docker

PIPELINE = f"""kind: pipeline
type: docker
name: ci
clone:
  disable: true
steps:
- name: build
  image: {BUSYBOX}
  environment:
    GREETING: hello-from-build
  commands:
  - echo "greeting=$GREETING tag=$DRONE_TAG"
- name: deploy
  image: {BUSYBOX}
  commands:
  - echo deployed-now
  when:
    event: tag
- name: notify
  image: {BUSYBOX}
  commands:
  - echo notified-now
  when:
    status: [success, failure]
"""


@pytest.fixture
def runner_cli(docker_client, tmp_path, run_id):
    """Run ``runner ARGS`` in a working tree holding ``PIPELINE`` as .drone.yml."""
    work = tmp_path / "project"
    work.mkdir()
    (work / ".drone.yml").write_text(PIPELINE)
    env = {
        **os.environ,
        "RUNNER_EXEC_LABELS": f"{TEST_LABEL}={run_id}",
        "RUNNER_DATA_DIR": str(tmp_path / "data"),
        "NO_COLOR": "1",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runner", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    return run


def _planned(runner_cli, *args: str) -> dict[str, dict]:
    done = runner_cli("plan", "--format", "json", "--repo", "acme/app", *args)
    assert done.returncode == 0, done.stderr
    (stage,) = json.loads(done.stdout)["stages"]
    return {step["name"]: step for step in stage["steps"]}


@pytest.mark.parametrize(
    ("args", "runs", "skipped"),
    [
        ((), ["build", "notify"], {"deploy": "when event: push is not tag"}),
        (("--tag", "v2.0.0"), ["build", "deploy", "notify"], {}),
    ],
    ids=["push", "tag"],
)
def test_the_steps_the_plan_runs_are_the_containers_runner_exec_starts(
    runner_cli, args, runs, skipped
):
    planned = _planned(runner_cli, *args)
    assert [name for name, step in planned.items() if step["runs"]] == runs
    assert {n: s["skip_reason"] for n, s in planned.items() if not s["runs"]} == skipped
    done = runner_cli("exec", "--repo", "acme/app", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    started = [
        name
        for name in planned
        if any(line.startswith(f"[{name} ") for line in done.stdout.splitlines())
    ]
    assert started == runs
    assert ("deployed-now" in done.stdout) == ("deploy" in runs)
    tag = planned["build"]["environment"]["DRONE_TAG"]
    assert planned["build"]["environment"]["GREETING"] == "hello-from-build"
    assert f"greeting=hello-from-build tag={tag}" in done.stdout
