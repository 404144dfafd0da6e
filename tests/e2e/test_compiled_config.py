"""A build triggered by a webhook on a real `runner server` shows its compiled configuration on
the build page: the steps the agent received, in the order it ran them, with the secret the step
uses named and its value nowhere, and the step the file's `when` left out absent, as it is from
what the agent received (Woodpecker's compiler leaves such steps out of the compiled config:
woodpecker-ci/woodpecker, pipeline/frontend/yaml/compiler/compiler.go, ``Compiler.Compile``).
"""

from __future__ import annotations

import re

import pytest
import requests

from tests.e2e.conftest import add_repo
from tests.e2e.harness import ADMIN_PASSWORD, github_push

pytestmark = [pytest.mark.docker]

VALUE = "c0nfig-page-n3ver-shows-this"
PIPELINE = """\
kind: pipeline
name: default
steps:
- name: build
  image: runner-test/busybox
  environment:
    TOKEN:
      from_secret: deploy_token
  commands:
  - echo "<b>built</b>"
- name: release
  image: runner-test/busybox
  commands:
  - echo released
  when:
    event: tag
- name: report
  image: runner-test/busybox
  commands:
  - echo reported
"""


def _signed_in(server) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{server.url}/login", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    data = {"login": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf}
    assert session.post(f"{server.url}/login", data=data, timeout=30).ok
    return session


def test_the_build_page_shows_what_the_agent_received(server, admin_token, local_repo):
    slug = "acme/planned"
    repo = add_repo(server, admin_token, slug, local_repo)
    secret = {"name": "deploy_token", "value": VALUE}
    assert server.api("POST", f"/repos/{slug}/secrets", admin_token, json=secret).ok
    sha = local_repo.commit({".drone.yml": PIPELINE})
    headers, body = github_push(slug, local_repo, sha, repo["webhook_secret"])
    assert requests.post(f"{server.url}/hook/{slug}", data=body, headers=headers, timeout=30).ok
    number = server.api("GET", f"/repos/{slug}/builds", admin_token).json()[0]["number"]
    build = server.wait_build(slug, number, admin_token)
    assert build["status"] == "success", build
    ran = [step["name"] for step in build["stages"][0]["steps"]]

    session = _signed_in(server)
    page = session.get(f"{server.url}/repos/{slug}/{number}", timeout=30).text
    assert f'href="/repos/{slug}/{number}/config"' in page
    config = session.get(f"{server.url}/repos/{slug}/{number}/config", timeout=30)
    assert config.status_code == 200
    shown = re.findall(r'<details class="plan-step" data-step="([^"]+)"', config.text)
    assert shown == ran == ["clone", "build", "report"]
    assert "secret deploy_token" in config.text and VALUE not in config.text
    assert "echo &#34;&lt;b&gt;built&lt;/b&gt;&#34;" in config.text  # the command, as text
    assert f"DRONE_COMMIT_SHA</dt><dd>{sha}" in config.text
