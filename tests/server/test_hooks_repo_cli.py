"""`runner repo`: activating a repository prints the webhook URL and secret a signed delivery
then uses; listing, showing, updating (secret rotation) and removing repositories."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from runner.cli import cli


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNNER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RUNNER_SERVER_URL", "https://ci.example.com")
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


def secret_of(output: str) -> str:
    return re.search(r"webhook secret: (\S+)", output).group(1)


def test_add_prints_webhook_url_and_secret(run):
    code, out = run(
        "repo", "add", "acme/web", "--forge", "gitlab", "--clone-url", "https://git.example/a.git"
    )
    assert code == 0, out
    assert "repository acme/web activated (gitlab)" in out
    assert "webhook URL:    https://ci.example.com/hook/acme/web" in out
    assert len(secret_of(out)) == 40
    assert "Secret token" in out  # where to paste it in GitLab
    code, out = run("repo", "add", "acme/web", "--clone-url", "https://git.example/a.git")
    assert code == 1 and "already active" in out


def test_given_secret_ls_show_update_and_rm(run):
    run("repo", "add", "acme/api", "--clone-url", "file:///srv/api.git", "--secret", "s3cret")
    run("repo", "add", "acme/web", "--clone-url", "file:///srv/web.git", "--trusted")
    code, out = run("repo", "ls")
    assert out.splitlines() == [
        "acme/api  github active  file:///srv/api.git",
        "acme/web  github active trusted  file:///srv/web.git",
    ]
    code, out = run("repo", "show", "acme/api")
    assert secret_of(out) == "s3cret" and "(no token: not reported)" in out
    code, out = run("repo", "update", "acme/api", "--inactive", "--rotate-secret")
    assert code == 0 and secret_of(out) != "s3cret"
    assert "inactive" in run("repo", "ls")[1].splitlines()[0]
    assert run("repo", "update", "acme/api")[0] == 1
    code, out = run("repo", "rm", "acme/api", "--yes")
    assert code == 0 and "removed" in out
    assert run("repo", "show", "acme/api")[0] == 1
    code, out = run("repo", "rm", "acme/web", input="n\n")
    assert code == 1 and "acme/web" in run("repo", "ls")[1]


def test_generic_hook_is_off_until_turned_on_and_can_be_turned_off(run):
    code, out = run("repo", "add", "acme/ops", "--forge", "generic", "--clone-url", "file:///x")
    assert code == 0 and "--generic-hook" in out  # the hint says the switch is needed
    assert "generic hook:   off" in run("repo", "show", "acme/ops")[1]
    assert run("repo", "update", "acme/ops", "--generic-hook")[0] == 0
    assert "generic hook:   on" in run("repo", "show", "acme/ops")[1]
    assert run("repo", "ls")[1].splitlines() == ["acme/ops  generic active generic-hook  file:///x"]
    assert run("repo", "update", "acme/ops", "--no-generic-hook")[0] == 0
    assert "generic hook:   off" in run("repo", "show", "acme/ops")[1]
    code, _out = run("repo", "add", "acme/b", "--clone-url", "file:///y", "--generic-hook")
    assert code == 0 and "generic hook:   on" in run("repo", "show", "acme/b")[1]
