"""``runner exec`` pulls a private step image with the Docker config of a pull secret the user
gives it (``--secret``), as Drone's ``image_pull_secrets`` name it; without that secret the step
ends saying the image cannot be pulled: unauthorized. The password never reaches the output.

Original: drone-runners/drone-runner-docker engine/compiler/compiler.go, ``Compile`` (pull
secrets looked up among the secrets, parsed as Docker configs, matched by image host) and
command/exec.go, where the ``--secrets`` given to the runner's ``exec`` serve that lookup
(``secret.StaticVars``).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

from tests.fixtures.registry import forget_image, htpasswd_registry, push_private

pytestmark = pytest.mark.docker

TEST_LABEL = "pipeline-runner.test"
USER = "puller"
PASSWORD = "Exec-pull-Pa55word"
PIPELINE = """\
kind: pipeline
name: default
image_pull_secrets:
- dockerconfig
steps:
- name: private
  image: IMAGE
  commands:
  - echo ran the private image
"""


@pytest.fixture
def private_image(docker_client, tmp_path):
    with htpasswd_registry(tmp_path / "registry", USER, PASSWORD) as registry:
        ref = push_private(docker_client, registry, "runner-test/busybox", "team/exec")
        yield registry, ref
        forget_image(docker_client, ref)


def _exec(project, run_id, data_dir, *args):
    env = {
        **os.environ,
        "RUNNER_EXEC_LABELS": f"{TEST_LABEL}={run_id}",
        "RUNNER_DATA_DIR": str(data_dir),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "runner", "exec", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize("with_secret", [True, False], ids=["pull-secret", "no-secret"])
def test_exec_pulls_a_private_image_with_the_pull_secret_it_is_given(
    private_image, tmp_path, run_id, with_secret
):
    registry, ref = private_image
    project = tmp_path / "project"
    project.mkdir()
    (project / ".drone.yml").write_text(PIPELINE.replace("IMAGE", ref))
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config = json.dumps({"auths": {registry.address: {"auth": auth}}})
    args = ["--secret", f"dockerconfig={config}"] if with_secret else []
    proc = _exec(project, run_id, tmp_path / "data", *args)
    output = proc.stdout + proc.stderr
    assert PASSWORD not in output
    if with_secret:
        assert proc.returncode == 0, output
        assert "ran the private image" in output
    else:
        assert proc.returncode != 0, output
        assert f"image {ref} cannot be pulled: unauthorized" in output
