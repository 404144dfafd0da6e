"""A secret added through the API reaches the step that asks for it, yet its value never
appears in an API response or in the stored log."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import add_repo
from tests.e2e.harness import github_push

pytestmark = [pytest.mark.docker]

VALUE = "hunter2-Sup3r-s3cret"

PIPELINE = """\
kind: pipeline
name: default
steps:
- name: use
  image: runner-test/busybox
  environment:
    TOKEN:
      from_secret: deploy_token
  commands:
  - echo "token is $TOKEN"
  - echo "length $${#TOKEN}"
  - test "$TOKEN" = "VALUE" && echo matches
""".replace("VALUE", VALUE)


def test_secret_is_used_but_never_shown(server, admin_token, local_repo):
    slug = "acme/secretive"
    repo = add_repo(server, admin_token, slug, local_repo)
    answers = []
    resp = server.api(
        "POST", f"/repos/{slug}/secrets", admin_token, json={"name": "deploy_token", "value": VALUE}
    )
    assert resp.status_code == 201, resp.text
    answers.append(resp)
    sha = local_repo.commit({".drone.yml": PIPELINE})
    headers, body = github_push(slug, local_repo, sha, repo["webhook_secret"])
    answers.append(
        requests.post(f"{server.url}/hook/{slug}", data=body, headers=headers, timeout=30)
    )
    number = server.api("GET", f"/repos/{slug}/builds", admin_token).json()[0]["number"]
    build = server.wait_build(slug, number, admin_token)
    assert build["status"] == "success", build
    step = build["stages"][0]["steps"][-1]
    log = server.api("GET", f"/repos/{slug}/builds/{number}/logs/1/{step['number']}", admin_token)
    answers.append(log)
    assert "token is ******" in log.text
    assert f"length {len(VALUE)}" in log.text
    assert "matches" in log.text

    for path in (
        f"/repos/{slug}",
        f"/repos/{slug}/secrets",
        f"/repos/{slug}/builds",
        f"/repos/{slug}/builds/{number}",
        "/repos",
    ):
        answers.append(server.api("GET", path, admin_token))
    for answer in answers:
        assert VALUE not in answer.text, answer.url
    stored = (server.data_dir / "runner.db").read_bytes()
    assert VALUE.encode() not in stored
