"""The configuration revision through a real server and its embedded agent: pushes of a
repository's pipeline file give steps `CI_CONFIG_REVISION` and `DRONE_CONFIG_REVISION` (and
`${CI_CONFIG_REVISION}` in the file), which go up when the file changes, stay when only other
files change, and come back to the earlier number when the file is reverted; the build JSON,
`runner build show` and the build page show it."""

from __future__ import annotations

import re

import pytest
import requests

from runner.testing import LocalRepo, ServerProcess
from tests.e2e.conftest import add_repo
from tests.e2e.harness import github_push

pytestmark = [pytest.mark.docker]

SLUG = "acme/versions"


def pipeline(step: str) -> str:
    return f"""\
kind: pipeline
name: default
steps:
- name: {step}
  image: runner-test/busybox
  commands:
  - echo "revision $CI_CONFIG_REVISION drone $DRONE_CONFIG_REVISION file ${{CI_CONFIG_REVISION}}"
"""


def _push(server: ServerProcess, token: str, repo: LocalRepo, secret: str, files: dict) -> dict:
    sha = repo.commit(files)
    headers, body = github_push(SLUG, repo, sha, secret)
    resp = server.post_hook(SLUG, headers, body)
    assert resp.status_code == 201, resp.text
    build = server.wait_build(SLUG, resp.json()["build"]["number"], token)
    assert build["status"] == "success", build
    return build


def _printed(server: ServerProcess, token: str, build: dict) -> str:
    stage = build["stages"][0]
    step = stage["steps"][-1]
    path = f"/repos/{SLUG}/builds/{build['number']}/logs/{stage['number']}/{step['number']}"
    resp = server.api("GET", path, token)
    assert resp.status_code == 200, resp.text
    lines = [line for line in resp.text.splitlines() if line.startswith("revision ")]
    assert len(lines) == 1, resp.text
    return lines[0]


def _signed_in(server: ServerProcess) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{server.url}/login", timeout=30).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert match, form
    data = {"login": "admin", "password": server.admin_password, "csrf_token": match.group(1)}
    assert session.post(f"{server.url}/login", data=data, timeout=30).ok
    return session


def test_steps_see_the_revision_which_follows_the_file(server, admin_token, local_repo):
    secret = add_repo(server, admin_token, SLUG, local_repo)["webhook_secret"]
    first = _push(server, admin_token, local_repo, secret, {".drone.yml": pipeline("show")})
    assert _printed(server, admin_token, first) == "revision 1 drone 1 file 1"
    assert first["config_revision"] == 1

    # Another file changes, the pipeline file does not: the same revision.
    same = _push(server, admin_token, local_repo, secret, {"README.md": "hello\n"})
    assert _printed(server, admin_token, same) == "revision 1 drone 1 file 1"

    changed = _push(server, admin_token, local_repo, secret, {".drone.yml": pipeline("print")})
    assert _printed(server, admin_token, changed) == "revision 2 drone 2 file 2"
    assert changed["config_revision"] == 2

    reverted = _push(server, admin_token, local_repo, secret, {".drone.yml": pipeline("show")})
    assert _printed(server, admin_token, reverted) == "revision 1 drone 1 file 1"

    cli = ["build", "--server", server.url, "--token", admin_token]
    shown = server.cli(*cli, "show", SLUG, str(changed["number"])).splitlines()
    assert shown[-1] == "config revision: 2", shown
    page = _signed_in(server).get(f"{server.url}/repos/{SLUG}/{changed['number']}", timeout=30)
    assert page.status_code == 200
    assert '<span class="mono" id="config-revision"' in page.text
    assert ">config r2</span>" in page.text
