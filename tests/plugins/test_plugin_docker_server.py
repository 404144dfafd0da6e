"""The docker plugin's version tag through a real server and its embedded agent: a push of
tag v1.2.0 builds the image and pushes `1.2.0-<commit7>-r<configuration revision>` to a real
registry, and the pulled image's labels name the commit, the build's page and the revision."""

from __future__ import annotations

import pytest

from runner.testing import LocalRepo, ServerProcess, github_push
from tests.plugins.conftest import BUSYBOX, TEST_LABEL

pytestmark = [pytest.mark.docker]

SLUG = "acme/app"
# The step the deploying-with-pipeline-runner guide shows: nothing but the scheme.
PIPELINE = """\
kind: pipeline
name: release
trigger:
  event: [tag]
steps:
  - name: image
    image: {image}
    settings:
      repo: {registry}/acme/app
      tag_scheme: semver-commit-revision
      labels:
        - {label}=1
"""


def test_a_tag_push_publishes_the_version_tag_with_its_labels(
    docker_client, plugin_images, start_registry, tmp_path
):
    registry = start_registry()
    server = ServerProcess(tmp_path / "server").start()
    try:
        token = server.token("admin")
        repo = LocalRepo(tmp_path / "git")
        made = server.api(
            "POST",
            "/repos",
            token,
            json={"slug": SLUG, "forge": "github", "clone_url": repo.clone_url},
        )
        assert made.status_code == 201, made.text
        pipeline = PIPELINE.format(
            image=plugin_images["docker"], registry=registry.address, label=TEST_LABEL
        )
        files = {".drone.yml": pipeline, "Dockerfile": f"FROM {BUSYBOX}\nRUN echo hi > /hi\n"}
        sha = repo.commit(files, message="release", tag="v1.2.0")
        headers, body = github_push(SLUG, repo, sha, made.json()["webhook_secret"], tag="v1.2.0")
        resp = server.post_hook(SLUG, headers, body)
        assert resp.status_code == 201, resp.text
        build = server.wait_build(SLUG, resp.json()["build"]["number"], token, timeout=300)
        assert build["status"] == "success", build
        assert build["config_revision"] == 1
    finally:
        server.stop()

    tag = f"1.2.0-{sha[:7]}-r1"
    ref = f"{registry.address}/acme/app:{tag}"
    docker_client.images.pull(f"{registry.address}/acme/app", tag=tag)
    try:
        labels = docker_client.images.get(ref).labels
    finally:
        docker_client.images.remove(ref, force=True)
    assert labels["org.opencontainers.image.revision"] == sha
    assert labels["org.opencontainers.image.version"] == tag
    assert labels["org.opencontainers.image.url"] == f"{server.url}/repos/{SLUG}/{build['number']}"
    assert labels["io.pipeline-runner.config-revision"] == "1"
