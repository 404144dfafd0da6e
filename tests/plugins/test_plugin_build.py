"""``runner plugin build`` builds the plugin images from plugins/ with a chosen base image,
reports a failing build as an error naming the plugin, and keeps the docker plugin's image
name on the agent's default privileged-plugin list."""

from __future__ import annotations

import click
import docker
import pytest
from click.testing import CliRunner
from conftest import BUSYBOX, PYTHON

from runner.commands import plugin as plugin_command
from runner.errors import EngineError, RunnerError
from runner.settings import Settings


def test_every_plugin_folder_is_buildable_and_documented():
    names = plugin_command.available_plugins()
    assert names == ["deploy", "docker", "notify", "oss", "sonar"]
    root = plugin_command.plugins_dir()
    for name in names:
        dockerfile = (root / name / "Dockerfile").read_text()
        assert "ARG BASE_IMAGE=python:3.12-slim" in dockerfile
        assert (root / name / "README.md").is_file()


def test_docker_plugin_image_is_on_the_default_privileged_list():
    image = f"{plugin_command.DEFAULT_TAG_PREFIX}docker"
    assert image in Settings().agent_privileged_images


def test_unknown_plugin_is_refused_before_building():
    with pytest.raises(RunnerError, match="unknown plugin.*nope.*choose from deploy, docker"):
        plugin_command.build_plugin_images(object(), ["nope"])


def test_a_folder_without_plugins_says_what_to_do(tmp_path):
    group = click.Group()
    plugin_command.register(group)
    result = CliRunner().invoke(group, ["plugin", "build", "--plugins-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"no plugin folders (with a Dockerfile) in {tmp_path}" in result.output


@pytest.mark.docker
def test_failing_build_is_an_error_naming_the_plugin(docker_client, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "Dockerfile").write_text(
        "ARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\nRUN false\n"
    )
    lines = []
    with pytest.raises(EngineError, match=r"building plugin broken .* failed: .*non-zero code"):
        plugin_command.build_plugin_images(
            docker_client, base_image=BUSYBOX, tag="test", root=tmp_path, log=lines.append
        )
    assert any("RUN false" in line for line in lines)  # the output was streamed


@pytest.mark.docker
def test_cli_builds_the_named_plugin(docker_client):
    group = click.Group()
    plugin_command.register(group)
    result = CliRunner().invoke(
        group,
        ["plugin", "build", "notify", "--base-image", PYTHON, "--tag", "test"]
        + ["--tag-prefix", "pipeline-runner/cli-"],
    )
    try:
        assert result.exit_code == 0, result.output
        assert "built: pipeline-runner/cli-notify:test" in result.output
        image = docker_client.images.get("pipeline-runner/cli-notify:test")
        assert image.attrs["Config"]["Entrypoint"] == [
            "python3",
            "/opt/plugin/notify_plugin.py",
        ]
    finally:
        try:
            docker_client.images.remove("pipeline-runner/cli-notify:test", force=True)
        except docker.errors.ImageNotFound:
            pass
