"""`runner lint`: file:line output, exit codes (1 on errors, 0 with warnings), --format json,
the lookup of the current directory's files, --trusted and --privileged-image."""

import json

import click
import pytest
from click.testing import CliRunner

from runner.commands import lint as lint_command

SOCKET = """kind: pipeline
name: ci
steps:
- name: build
  image: acme/builder:20
  volumes:
  - name: sock
    path: /var/run/docker.sock
volumes:
- name: sock
  host:
    path: /var/run/docker.sock
"""


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    group = click.Group("runner")
    lint_command.register(group)
    monkeypatch.chdir(tmp_path)

    def run(*args):
        return CliRunner().invoke(group, ["lint", *args])

    return run


def test_clean_file_exits_zero(invoke, tmp_path):
    (tmp_path / "ci.yml").write_text("kind: pipeline\nname: a\nsteps:\n- {name: a, image: b}\n")
    result = invoke("ci.yml")
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_errors_exit_one_with_file_line_and_path(invoke, tmp_path):
    (tmp_path / "ci.yml").write_text(SOCKET)
    result = invoke("ci.yml")
    assert result.exit_code == 1
    assert (
        'ci.yml:4: error: steps[0]: step "build" (acme/builder:20) asks for the Docker socket '
        "/var/run/docker.sock, which needs a trusted repository"
    ) in result.output
    assert invoke("ci.yml", "--trusted").exit_code == 0
    assert invoke("ci.yml", "--privileged-image", "acme/builder").exit_code == 0
    (tmp_path / "plugin.yml").write_text(SOCKET.replace("acme/builder:20", "plugins/docker:20"))
    assert invoke("plugin.yml").exit_code == 0  # on the agents' default allow-list


def test_warnings_only_exit_zero_and_json(invoke, tmp_path):
    (tmp_path / "ci.yml").write_text(
        "kind: pipeline\nname: a\nsteps:\n- {name: a, image: b, comands: [x]}\n"
    )
    result = invoke("ci.yml", "--format", "json")
    assert result.exit_code == 0
    payload = json.loads(result.output[result.output.index("{") :])
    assert payload["errors"] == 0 and payload["warnings"] == 1
    assert payload["issues"][0]["path"] == "steps[0].comands"


def test_no_file_uses_the_lookup_order(invoke, tmp_path):
    (tmp_path / ".woodpecker").mkdir()
    (tmp_path / ".woodpecker" / "a.yml").write_text("steps:\n  a:\n    image: alpine\n")
    (tmp_path / ".woodpecker.yml").write_text("steps: 3\n")  # not read: the folder comes first
    assert invoke().exit_code == 0
    (tmp_path / ".drone.yml").write_text("kind: pipeline\nname: x\nsteps: {a: 1}\n")
    result = invoke()
    assert result.exit_code == 1 and ".drone.yml:3: error: steps:" in result.output


def test_nothing_to_lint_and_unreadable_file(invoke):
    assert invoke().exit_code == 2
    assert invoke("missing.yml").exit_code == 2


def test_malformed_file_is_a_message_not_a_traceback(invoke, tmp_path):
    (tmp_path / "bad.yml").write_text("kind: pipeline\nsteps:\n  - name: [\n")
    result = invoke("bad.yml")
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "bad.yml:" in result.output
