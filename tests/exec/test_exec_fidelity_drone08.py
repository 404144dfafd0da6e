"""``runner exec`` runs what Drone 0.8 and Woodpecker run, on the real Docker engine: both
steps of a Drone 0.8 step key written twice run, in file order, in the workspace Drone 0.8
gives the repository (``/drone/src/<host>/<owner>/<name>``); a 0.8 plugin step gets its
``secrets:`` under the target's name and as ``PLUGIN_<TARGET>``, and ``user:`` as the setting
``PLUGIN_USER`` (the container keeps the image's user); and a plugin step gets a secret nested
in a setting inside the JSON of ``PLUGIN_LOGINS`` (masked in the log).

Sources: cncd/pipeline ``pipeline/frontend/yaml/container.go`` (``Containers.UnmarshalYAML``
over a ``yaml.MapSlice``; no ``user`` field, so it is one of ``Vargs``), ``compiler/convert.go``
(``createProcess``: ``Vargs`` as ``PLUGIN_*``, secrets as the upper-cased target) and
``compiler/option.go`` (``WithWorkspaceFromURL``) with Drone 0.8's ``server/procBuilder.go``
(base ``/drone``); woodpecker-ci/woodpecker
``pipeline/frontend/yaml/compiler/settings/params.go`` (``injectSecretRecursive``).
The files are those of ``tests/pipeline/fidelity/drone08``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.exec.conftest import step_lines

pytestmark = pytest.mark.docker

FILES = Path(__file__).parent.parent / "pipeline" / "fidelity" / "drone08"


@pytest.fixture
def project(tmp_path):
    """A git working tree whose origin is on git.example.com (never contacted: runner exec
    uses the working tree as it is)."""
    work = tmp_path / "project"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(
        ["git", "-C", str(work), "remote", "add", "origin", "https://git.example.com/acme/app.git"],
        check=True,
    )
    return work


def test_both_steps_of_a_drone08_key_written_twice_run_in_the_drone08_workspace(
    runner_exec, project
):
    shutil.copy(FILES / "duplicate_steps.yml", project / ".drone.yml")
    proc = runner_exec()
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "publish one in /drone/src/git.example.com/acme/app" in step_lines(output, "publish")
    assert "publish two" in step_lines(output, "publish-2")
    order = [output.index(text) for text in ("publish one", "build between", "publish two")]
    assert order == sorted(order)
    assert "duplicate" not in proc.stderr


def test_a_plugin_step_receives_a_nested_secret_in_plugin_logins(runner_exec, project):
    shutil.copy(FILES / "nested_secret.yml", project / ".woodpecker.yml")
    proc = runner_exec("--secret", "registry_password=pw-7c1e9a", "--secret", "release_tag=v9")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    # What the plugin received, as it wrote it into the workspace (the project directory).
    logins = json.loads((project / "logins.json").read_text())
    assert logins == [
        {"registry": "registry.example.com", "username": "bot", "password": "pw-7c1e9a"},
        {"registry": "mirror.example.com", "username": "bot", "password": "not-a-secret"},
    ]
    # The plugin printed the same JSON: the log shows the value masked, never in clear.
    assert "pw-7c1e9a" not in output
    assert any('"password":"******"' in line for line in step_lines(output, "login"))


def test_a_drone08_plugin_gets_its_secrets_by_target_and_user_as_a_setting(runner_exec, project):
    shutil.copy(FILES / "plugin_secrets_run.yml", project / ".drone.yml")
    proc = runner_exec("--secret", "docker_prod_password=pw-31f0", "--secret", "expected=pw-31f0")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    received = json.loads((project / "received.json").read_text())
    # user: deploy was a setting: the container ran as the image's user (root), not "deploy".
    assert received == {
        "uid": 0,
        "user": "deploy",
        "DOCKER_PASSWORD": True,
        "PLUGIN_DOCKER_PASSWORD": True,
    }
