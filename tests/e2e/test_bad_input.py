"""Bad input to a real server: a wrong signature gets 401 and no build, an unknown repository
404, a malformed body 400, a pipeline with a syntax error a build in error naming the file, line
and reason; no answer carries a stack trace."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import add_repo
from tests.e2e.harness import github_push

pytestmark = [pytest.mark.docker]

BROKEN = """\
kind: pipeline
name: default
steps:
- name: build
  image: runner-test/busybox
  commands: [echo hi
"""


def _post(server, slug, headers, body):
    return requests.post(f"{server.url}/hook/{slug}", data=body, headers=headers, timeout=30)


def _no_trace(resp):
    text = resp.text
    assert "Traceback" not in text and 'File "' not in text, text
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    assert resp.json().get("error") or resp.json().get("reason"), text


def test_wrong_signature_unknown_repo_and_malformed_body(server, admin_token, local_repo):
    slug = "acme/bad-input"
    repo = add_repo(server, admin_token, slug, local_repo)
    sha = local_repo.commit({".drone.yml": "kind: pipeline\nsteps: []\n"})

    headers, body = github_push(slug, local_repo, sha, "not-the-secret")
    resp = _post(server, slug, headers, body)
    assert resp.status_code == 401
    _no_trace(resp)

    headers, body = github_push("acme/missing", local_repo, sha, repo["webhook_secret"])
    resp = _post(server, "acme/missing", headers, body)
    assert resp.status_code == 404
    _no_trace(resp)

    garbage = b"{this is not json"
    headers, _body = github_push(slug, local_repo, sha, repo["webhook_secret"])
    import hashlib
    import hmac

    headers["X-Hub-Signature-256"] = (
        "sha256=" + hmac.new(repo["webhook_secret"].encode(), garbage, hashlib.sha256).hexdigest()
    )
    resp = _post(server, slug, headers, garbage)
    assert resp.status_code == 400
    _no_trace(resp)

    assert server.api("GET", f"/repos/{slug}/builds", admin_token).json() == []


def test_api_errors_are_json_without_traces(server, admin_token):
    for method, path, kwargs, status in [
        ("GET", "/repos/nobody/nothing", {}, 404),
        ("GET", "/no/such/endpoint", {}, 404),
        ("DELETE", "/repos", {}, 405),
        (
            "POST",
            "/repos",
            {"data": b"{broken", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        ("GET", "/repos/acme/x/builds?page=abc", {}, 404),
    ]:
        resp = server.api(method, path, admin_token, **kwargs)
        assert resp.status_code == status, (path, resp.text)
        _no_trace(resp)
    resp = server.api("GET", "/user", "not-a-token")
    assert resp.status_code == 401
    _no_trace(resp)


def test_syntax_error_gives_a_build_in_error_with_file_line_and_reason(
    server, admin_token, local_repo
):
    slug = "acme/broken"
    repo = add_repo(server, admin_token, slug, local_repo)
    sha = local_repo.commit({".drone.yml": BROKEN}, message="broken pipeline")
    headers, body = github_push(slug, local_repo, sha, repo["webhook_secret"])
    resp = _post(server, slug, headers, body)
    assert resp.status_code in (200, 201), resp.text
    assert "Traceback" not in resp.text
    builds = server.api("GET", f"/repos/{slug}/builds", admin_token).json()
    assert len(builds) == 1
    build = server.api("GET", f"/repos/{slug}/builds/{builds[0]['number']}", admin_token).json()
    assert build["status"] == "error"
    assert build["stages"] == []
    assert ".drone.yml" in build["error"]
    assert ":6" in build["error"] or "line 6" in build["error"] or ":7" in build["error"], build
    assert "Traceback" not in build["error"]
