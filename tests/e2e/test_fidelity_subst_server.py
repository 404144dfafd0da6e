"""Drone 0.8 secrets substituted into the file, through a real server and its agent: a secret
added with ``runner secret add --skip-verify`` reaches ``password: ${MY_SECRET}`` (a plugin
setting) and ``AUTH=bearer-${my_secret}`` (an environment entry, the name in another case), the
log shows it masked and no API answer or stored row holds it; a pull request from a fork gets
nothing substituted, even from a secret that allows pull requests. A second secret whose name
differs only by case is refused with 409.

Drone before 1.0 injected secrets into the YAML text itself (drone/docs
``content/usage/secrets.md``: "Secrets are injected directly into the YAML at runtime"); in
0.5-0.8 as ``${NAME}`` of a secret added with ``drone secret add --skip-verify``, which is how
the seed file of issue 12 (``drone08-cmdb_api.yml`` and its README) writes
``password: ${DOCKER_PASSWORD}``; never for pull requests. Secret names
are case-insensitive as in Drone (drone/drone ``plugin/secret/static.go``,
``staticController.Find``: ``strings.EqualFold``).
"""

from __future__ import annotations

import json
import uuid

import pytest

from runner.forges.github import signature
from runner.testing import git
from tests.e2e.conftest import add_repo
from tests.e2e.harness import github_push

pytestmark = [pytest.mark.docker]

HEAD, TAIL = "s3cr3t-Sub", "st-9f8e"
VALUE = HEAD + TAIL  # the file compares in two halves, so it never holds the value

PIPELINE = """\
pipeline:
  publish:
    image: runner-test/busybox
    password: ${MY_SECRET}
    environment:
      - AUTH=bearer-${my_secret}
    commands:
      - echo "password $PLUGIN_PASSWORD auth $AUTH"
      - echo "length $${#PLUGIN_PASSWORD}"
      - CHECK
"""
MATCHES = f'test "$PLUGIN_PASSWORD" = "{HEAD}""{TAIL}" && test "$AUTH" = "bearer-{HEAD}""{TAIL}"'
EMPTY = 'test -z "$PLUGIN_PASSWORD" && test "$AUTH" = "bearer-" && echo empty'


def _log(server, token, slug, build) -> str:
    stage = build["stages"][0]
    step = next(s for s in stage["steps"] if s["name"] == "publish")
    path = f"/repos/{slug}/builds/{build['number']}/logs/{stage['number']}/{step['number']}"
    resp = server.api("GET", path, token)
    assert resp.status_code == 200, resp.text
    return resp.text


def _fork_pull_request(server, token, slug, local_repo, secret: str, pipeline: str) -> dict:
    """A pull request from another repository, as GitHub sends it; the build when over."""
    sha = local_repo.commit({".drone.yml": pipeline}, "fork change", "fork-work")
    git(local_repo.work, "push", "-q", "-f", "origin", "HEAD:refs/pull/1/head")
    payload = {
        "action": "opened",
        "number": 1,
        "pull_request": {
            "number": 1,
            "title": "Improve things",
            "body": "",
            "html_url": f"https://github.com/{slug}/pull/1",
            "user": {"login": "stranger", "avatar_url": ""},
            "head": {"ref": "main", "sha": sha, "repo": {"full_name": "stranger/fork"}},
            "base": {"ref": "main", "sha": sha, "repo": {"full_name": slug}},
        },
        "repository": {"full_name": slug, "clone_url": local_repo.clone_url},
        "sender": {"login": "stranger", "avatar_url": ""},
    }
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature(body, secret),
    }
    resp = server.post_hook(slug, headers, body)
    assert resp.status_code == 201, resp.text
    return server.wait_build(slug, resp.json()["build"]["number"], token)


def test_skip_verify_secret_is_substituted_masked_and_never_shown(server, admin_token, local_repo):
    slug = "acme/subst"
    repo = add_repo(server, admin_token, slug, local_repo)
    assert "saved" in server.cli("secret", "add", slug, "MY_SECRET", VALUE, "--skip-verify")
    listed = server.api("GET", f"/repos/{slug}/secrets", admin_token)
    assert [s["substitute"] for s in listed.json()] == [True]

    duplicate = server.api(
        "POST", f"/repos/{slug}/secrets", admin_token, json={"name": "my_secret", "value": "x"}
    )
    assert duplicate.status_code == 409 and "case-insensitive" in duplicate.text

    sha = local_repo.commit({".drone.yml": PIPELINE.replace("CHECK", MATCHES + " && echo matches")})
    headers, body = github_push(slug, local_repo, sha, repo["webhook_secret"])
    resp = server.post_hook(slug, headers, body)
    assert resp.status_code == 201, resp.text
    number = resp.json()["build"]["number"]
    build = server.wait_build(slug, number, admin_token)
    assert build["status"] == "success", build
    log = _log(server, admin_token, slug, build)
    assert "password ****** auth bearer-******" in log
    assert f"length {len(VALUE)}" in log and "matches" in log

    answers = [
        server.api("GET", path, admin_token)
        for path in (
            f"/repos/{slug}/builds/{number}",
            f"/repos/{slug}/builds",
            f"/repos/{slug}/secrets",
        )
    ]
    for answer in answers:
        assert VALUE not in answer.text, answer.url
    assert VALUE.encode() not in (server.data_dir / "runner.db").read_bytes()


def test_fork_pull_request_gets_no_substituted_secret(server, admin_token, local_repo):
    slug = "acme/subst-fork"
    repo = add_repo(server, admin_token, slug, local_repo)
    resp = server.api(
        "POST",
        f"/repos/{slug}/secrets",
        admin_token,
        json={
            "name": "MY_SECRET",
            "value": VALUE,
            "substitute": True,
            "events": ["push", "pull_request"],
            "allow_pull_request": True,
        },
    )
    assert resp.status_code == 201, resp.text
    pipeline = PIPELINE.replace("CHECK", EMPTY)
    build = _fork_pull_request(
        server, admin_token, slug, local_repo, repo["webhook_secret"], pipeline
    )
    assert build["status"] == "success", build
    log = _log(server, admin_token, slug, build)
    assert "password  auth bearer-" in log and "length 0" in log
    assert "empty" in [line.strip() for line in log.splitlines()], log
