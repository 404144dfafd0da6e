"""Why a step failed and which agent ran the stage, where people look: a real server with its
embedded agent (named build-01) runs a build whose step exits 3 and whose next step's image is
nowhere to be pulled; `runner build show` and the build page print each step's exit code and
error reason next to it and the agent's name per stage, and the API's build JSON has the agent's
name next to its id."""

from __future__ import annotations

import re

import pytest
import requests
from markupsafe import escape

from runner.testing import LocalRepo, ServerProcess
from tests.e2e.conftest import add_repo

pytestmark = [pytest.mark.docker]

SLUG = "acme/reasons"
AGENT = "build-01"
# Port 1 of loopback refuses at once: the pull fails without reaching any outside registry.
GHOST = "127.0.0.1:1/ghost/image:1.0"
PIPELINE = f"""\
kind: pipeline
name: default
steps:
- name: fails
  image: runner-test/busybox
  failure: ignore
  commands:
  - exit 3
- name: ghost
  image: {GHOST}
  commands:
  - echo never
"""


@pytest.fixture(scope="module")
def named_server(tmp_path_factory, docker_client):
    proc = ServerProcess(tmp_path_factory.mktemp("server") / "data", agent_name=AGENT).start()
    yield proc
    proc.stop()


def _signed_in(server: ServerProcess) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{server.url}/login", timeout=30).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert match, form
    data = {"login": "admin", "password": server.admin_password, "csrf_token": match.group(1)}
    assert session.post(f"{server.url}/login", data=data, timeout=30).ok
    return session


def test_failed_steps_show_exit_code_reason_and_agent_in_cli_page_and_api(named_server, tmp_path):
    token = named_server.token("admin")
    repo = LocalRepo(tmp_path / "git")
    add_repo(named_server, token, SLUG, repo)
    repo.commit({".drone.yml": PIPELINE})
    cli = ["build", "--server", named_server.url, "--token", token]
    assert named_server.cli(*cli, "create", SLUG, "--branch", "main").startswith("#1 ")
    build = named_server.wait_build(SLUG, 1, token)
    assert build["status"] in ("error", "failure"), build

    stage = build["stages"][0]
    assert stage["agent_id"] and stage["agent_name"] == AGENT
    steps = {step["name"]: step for step in stage["steps"]}
    assert steps["fails"]["exit_code"] == 3
    reason = steps["ghost"]["error"]
    assert "cannot be pulled" in reason and GHOST in reason, steps["ghost"]

    shown = named_server.cli(*cli, "show", SLUG, "1").splitlines()
    assert f"  stage 1 default: {build['status']} on {AGENT}" in shown[1]
    fails = next(line for line in shown if " fails: " in line)
    assert fails.endswith("fails: failure exit 3"), shown
    ghost = next(line for line in shown if " ghost: " in line)
    assert ghost.endswith(f": {reason}") and ghost.strip().startswith("1/3 ghost: error"), shown

    page = _signed_in(named_server).get(f"{named_server.url}/repos/{SLUG}/1", timeout=30)
    assert page.status_code == 200
    assert f'<span class="agent muted">on {AGENT}</span>' in page.text
    assert '<span class="exit">exit 3</span>' in page.text
    # The pull error quotes the registry URL: the page shows it escaped, never as markup.
    assert '"' in reason and reason not in page.text
    assert f'<span class="reason">{escape(reason)}</span>' in page.text
