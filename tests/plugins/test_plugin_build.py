"""``runner plugin build`` builds the plugin images from plugins/ with a chosen base image,
their pinned libraries installed offline from a wheelhouse that pip fills on the host (reused
once complete), reports a failing build as an error naming the plugin, and keeps the docker
plugin's image name on the agent's default privileged-plugin list."""

from __future__ import annotations

import re
from pathlib import Path

import click
import docker
import pytest
from click.testing import CliRunner

from runner.commands import plugin as plugin_command
from runner.commands import plugin_wheelhouse as wheelhouse
from runner.errors import EngineError, RunnerError
from runner.settings import Settings
from tests.plugins.conftest import BUSYBOX, PYTHON, TEST_LABEL


def test_every_plugin_folder_is_buildable_and_documented():
    names = plugin_command.available_plugins()
    assert names == ["deploy", "docker", "notify", "oss", "sonar"]
    root = plugin_command.plugins_dir()
    for name in names:
        dockerfile = (root / name / "Dockerfile").read_text()
        assert "ARG BASE_IMAGE=python:3.12-slim" in dockerfile
        assert (root / name / "README.md").is_file()
    assert plugin_command.default_base_images(root) == ["python:3.12-slim"]


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


def test_every_dockerfile_installs_only_from_the_wheelhouse():
    root = plugin_command.plugins_dir()
    pins = (root / "requirements.txt").read_text()
    stages = set()
    for name in plugin_command.available_plugins():
        dockerfile = (root / name / "Dockerfile").read_text()
        assert "COPY wheels/ /wheels/" in dockerfile, name
        assert "--no-index --find-links /wheels" in dockerfile, name
        assert "--constraint /wheels/requirements.txt" in dockerfile, name
        stages.add(dockerfile[dockerfile.index("FROM") : dockerfile.index("\n\nFROM")])
    # one libraries stage, word for word, so the engine's layer cache builds it once for all
    assert len(stages) == 1
    for line in pins.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+]*", line), line


def test_a_complete_wheelhouse_is_reused_as_it_is(tmp_path):
    requirements = plugin_command.plugins_dir() / "requirements.txt"
    target = wheelhouse.Target("3.11", "x86_64")
    folder = wheelhouse.wheelhouse_path(target, requirements, root=tmp_path)
    folder.mkdir(parents=True)
    (folder / "only-0.1-py3-none-any.whl").write_bytes(b"")
    (folder / wheelhouse.COMPLETE_MARK).write_text("")
    lines = []
    assert wheelhouse.ensure_wheelhouse(target, requirements, tmp_path, lines.append) == folder
    assert lines == [f"==> wheelhouse {folder} (reused)"]
    assert [p.name for p in wheelhouse.wheel_files(folder)] == ["only-0.1-py3-none-any.whl"]


def test_a_wheel_pip_cannot_get_fails_with_pips_reason_and_leaves_nothing(tmp_path, monkeypatch):
    # pip's own configuration decides where wheels come from: here, an empty local folder.
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("requests==2.34.2\n")
    root = tmp_path / "wheels"
    with pytest.raises(RunnerError, match=r"pip could not download .*requests==2\.34\.2"):
        wheelhouse.ensure_wheelhouse(wheelhouse.Target("3.11", "x86_64"), requirements, root)
    assert list(root.iterdir()) == []


def test_wheelhouse_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNNER_WHEELHOUSE", str(tmp_path / "mine"))
    assert wheelhouse.wheelhouse_root() == tmp_path / "mine"
    monkeypatch.delenv("RUNNER_WHEELHOUSE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert wheelhouse.wheelhouse_root() == tmp_path / "cache" / "pipeline-runner" / "wheels"


@pytest.mark.docker
def test_the_base_images_python_picks_the_wheels(docker_client):
    version = docker_client.containers.run(
        PYTHON, ["python3", "-V"], labels={TEST_LABEL: "1"}, remove=True
    ).decode()
    target = wheelhouse.probe_target(docker_client, PYTHON, {TEST_LABEL: "1"})
    assert version.startswith(f"Python {target.python}.")
    assert target.libc == "glibc"
    assert ["--python-version", target.python] == target.pip_args()[1:3]


@pytest.mark.docker
def test_images_hold_exactly_the_pinned_libraries(docker_client, plugin_images):
    pins = dict(
        line.split("==")
        for line in (plugin_command.plugins_dir() / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    script = "import boto3, botocore; print(boto3.__version__, botocore.__version__)"
    out = docker_client.containers.run(
        plugin_images["oss"],
        ["-c", script],
        entrypoint=["python3"],
        labels={TEST_LABEL: "1"},
        remove=True,
        network_mode="none",
    ).decode()
    assert out.split() == [pins["boto3"], pins["botocore"]]
    script = "import docker, requests; print(docker.__version__, requests.__version__)"
    out = docker_client.containers.run(
        plugin_images["deploy"],
        ["-c", script],
        entrypoint=["python3"],
        labels={TEST_LABEL: "1"},
        remove=True,
        network_mode="none",
    ).decode()
    assert out.split() == [pins["docker"], pins["requests"]]


@pytest.mark.docker
def test_cli_prints_the_wheelhouse_of_a_base_image(docker_client, plugin_images):
    group = click.Group()
    plugin_command.register(group)
    result = CliRunner().invoke(group, ["plugin", "wheelhouse", "--base-image", PYTHON])
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1])
    names = [p.name for p in wheelhouse.wheel_files(folder)]
    assert any(n.startswith("boto3-") for n in names) and any(n.startswith("pip-") for n in names)
