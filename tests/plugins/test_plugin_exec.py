"""The docker plugin image runs unchanged as a step of ``runner exec``: a tag build pushes the
semver tags to a real registry, with the socket allowed because the image is allow-listed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.plugins.conftest import BUSYBOX, TEST_LABEL

PIPELINE = """\
kind: pipeline
type: docker
name: release

steps:
  - name: publish
    image: {image}
    settings:
      repo: {registry}/team/app
      auto_tag: true
      tag_commit: true
      build_args:
        - GREETING=built by runner exec
      labels:
        - {label}=1
    volumes:
      - name: docker-socket
        path: /var/run/docker.sock

volumes:
  - name: docker-socket
    host:
      path: /var/run/docker.sock
"""


@pytest.mark.docker
def test_runner_exec_tag_build_pushes_semver_tags(
    docker_client, plugin_images, start_registry, tmp_path, run_id
):
    registry = start_registry()
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text(
        f'FROM {BUSYBOX}\nARG GREETING\nRUN echo "$GREETING" > /greeting\n'
    )
    (project / ".pipeline.yml").write_text(
        PIPELINE.format(image=plugin_images["docker"], registry=registry.address, label=TEST_LABEL)
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run(git + ["add", "."], cwd=project, check=True)
    subprocess.run(git + ["commit", "-qm", "release"], cwd=project, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()

    result = subprocess.run(
        # runner exec does not read the agent's privileged-image list (yet): name the image
        # the way an agent's default list does, without --trusted.
        [sys.executable, "-m", "runner", "exec", "--event", "tag", "--tag", "v1.2.3"]
        + ["--privileged-image", "pipeline-runner/docker"],
        cwd=project,
        env={
            **os.environ,
            "RUNNER_EXEC_LABELS": f"{TEST_LABEL}={run_id}",
            "RUNNER_DATA_DIR": str(tmp_path / "data"),
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1.2.3, 1.2, 1" in output
    for tag in ("1.2.3", "1.2", "1", f"1.2.3-{commit[:7]}"):
        ref = f"{registry.address}/team/app:{tag}"
        docker_client.images.pull(f"{registry.address}/team/app", tag=tag)
        try:
            out = docker_client.containers.run(
                ref, ["cat", "/greeting"], labels={TEST_LABEL: "1"}, remove=True
            )
            assert out.decode().strip() == "built by runner exec"
        finally:
            docker_client.images.remove(ref, force=True)
