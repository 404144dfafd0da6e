"""POST /hook/<owner>/<name> through the real application: signed deliveries from each forge
become builds of a real bare repository; bad signatures, unknown repositories, malformed and
oversized bodies, ignored events and replays answer JSON with a reason and create nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from pathlib import Path

import pytest
from test_trigger import SIMPLE, Origin

from runner.server.app import create_app
from runner.server.status import status_reporter

PAYLOADS = Path(__file__).parents[1] / "forges" / "payloads"
SECRET = "hook-secret-0123"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def sign(raw: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def github_push(sha: str, *, ref: str = "refs/heads/main", message: str = "Change") -> dict:
    data = payload("github_push")
    data.update(ref=ref, after=sha)
    data["head_commit"].update(id=sha, message=message)
    data["commits"] = [dict(data["head_commit"])]
    return data


def github_post(client, data, *, delivery="gh-1", secret=SECRET, slug="acme/web"):
    raw = json.dumps(data).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + sign(raw, secret),
    }
    return client.post(f"/hook/{slug}", data=raw, headers=headers, content_type="application/json")


@pytest.fixture
def origin(tmp_path):
    return Origin(tmp_path / "git")


@pytest.fixture
def hooked(services, origin):
    """The server's services with repositories of every forge on the same origin."""
    for forge in ("github", "gitlab", "gitea", "gogs", "generic"):
        slug = "acme/web" if forge == "github" else f"acme/{forge}"
        services.stores.repos.create(
            slug,
            forge=forge,
            clone_url=origin.url,
            webhook_secret=SECRET,
            generic_hook=forge == "generic",
        )
    yield services
    status_reporter(services).stop()


def builds_of(services, slug: str):
    repo = services.stores.repos.get_by_slug(slug)
    return services.stores.builds.page_of_repo(repo.id)


def test_signed_github_push_creates_a_build(client, hooked, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "Add CI")
    resp = github_post(client, github_push(sha, message="Add CI"), delivery="72d3162e")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "created"
    assert body["build"]["number"] == 1 and body["build"]["commit"] == sha
    assert body["build"]["url"].endswith("/repos/acme/web/1")
    (build,) = builds_of(hooked, "acme/web")
    assert build.event == "push" and build.branch == "main" and build.status == "pending"
    full = hooked.stores.builds.get(build.id)
    assert [step.name for step in full.stages[0].steps] == ["clone", "test"]


def test_replayed_delivery_creates_no_second_build(client, hooked, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "Add CI")
    first = github_post(client, github_push(sha), delivery="same-id")
    again = github_post(client, github_push(sha), delivery="same-id")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json() == {
        "status": "duplicate",
        "reason": "delivery same-id was received before",
        "build": 1,
    }
    assert len(builds_of(hooked, "acme/web")) == 1
    # The same signed body under a new delivery id is a replay too; another push is not.
    replay = github_post(client, github_push(sha), delivery="other-id")
    assert replay.status_code == 200 and replay.get_json()["status"] == "duplicate"
    again = github_post(client, github_push(sha, message="Another"), delivery="other-id")
    assert again.status_code == 201


def test_concurrent_replays_make_one_build(app, hooked, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "Add CI")
    answers: list[int] = []

    def post():
        answers.append(
            github_post(app.test_client(), github_push(sha), delivery="race").status_code
        )

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 200, 200, 201]
    assert len(builds_of(hooked, "acme/web")) == 1


@pytest.mark.postgres
def test_concurrent_replays_make_one_build_on_postgres(settings, postgres_migrated_url, origin):
    settings.database_url = postgres_migrated_url
    app = create_app(settings, start_background=False)
    services = app.extensions["runner"]
    try:
        services.stores.repos.create(
            "acme/web", forge="github", clone_url=origin.url, webhook_secret=SECRET
        )
        sha = origin.commit({".drone.yml": SIMPLE}, "Add CI")
        answers: list[int] = []

        def post():
            resp = github_post(app.test_client(), github_push(sha), delivery="pg-race")
            answers.append(resp.status_code)

        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [200, 200, 200, 201]
        assert len(builds_of(services, "acme/web")) == 1
    finally:
        status_reporter(services).stop()
        services.db.dispose()


def test_wrong_signature_is_401_and_builds_nothing(client, hooked, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "Add CI")
    resp = github_post(client, github_push(sha), secret="not-the-secret")
    assert resp.status_code == 401
    assert "X-Hub-Signature-256 does not match" in resp.get_json()["error"]
    raw = json.dumps(github_push(sha)).encode()
    unsigned = client.post(
        "/hook/acme/web",
        data=raw,
        headers={"X-GitHub-Event": "push"},
        content_type="application/json",
    )
    assert unsigned.status_code == 401
    assert builds_of(hooked, "acme/web") == []


def test_unknown_or_inactive_repository_is_404(client, hooked, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "Add CI")
    resp = github_post(client, github_push(sha), slug="acme/unknown")
    assert resp.status_code == 404
    assert "runner repo add acme/unknown" in resp.get_json()["error"]
    repo = hooked.stores.repos.get_by_slug("acme/web")
    hooked.stores.repos.update(repo.id, active=False)
    assert github_post(client, github_push(sha)).status_code == 404


@pytest.mark.parametrize("raw", [b"{truncated", b"[]", b'{"after": "abc"}'])
def test_malformed_body_is_400_without_a_stack_trace(client, hooked, raw):
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "bad",
        "X-Hub-Signature-256": "sha256=" + sign(raw),
    }
    resp = client.post("/hook/acme/web", data=raw, headers=headers, content_type="application/json")
    assert resp.status_code == 400
    text = resp.get_data(as_text=True)
    assert "error" in resp.get_json() and "Traceback" not in text
    assert builds_of(hooked, "acme/web") == []
    # A malformed delivery is not remembered: the forge may send it again once fixed.
    assert hooked.stores.hook_deliveries.get(1, "bad") is None


def test_oversized_body_is_413(client, hooked, services):
    services.settings.max_body_bytes = 2048
    raw = json.dumps({"padding": "x" * 4096}).encode()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(raw)}
    resp = client.post("/hook/acme/web", data=raw, headers=headers, content_type="application/json")
    assert resp.status_code == 413
    assert "larger than 2048 bytes" in resp.get_json()["error"]


def test_deleted_branch_and_skip_ci_are_ignored_with_a_reason(client, hooked, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "Add CI")
    deleted = payload("github_delete")
    resp = github_post(client, deleted, delivery="del-1")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ignored"
    assert "was deleted" in resp.get_json()["reason"]
    skipped = github_post(client, github_push(sha, message="Typo [skip ci]"), delivery="skip-1")
    assert skipped.status_code == 200
    assert skipped.get_json() == {
        "status": "ignored",
        "reason": "[skip ci] in the commit message",
    }
    assert builds_of(hooked, "acme/web") == []


def test_pipeline_syntax_error_gives_an_error_build(client, hooked, origin):
    sha = origin.commit({".drone.yml": "kind: pipeline\nsteps: [\n"}, "Broken")
    resp = github_post(client, github_push(sha))
    assert resp.status_code == 201
    build = resp.get_json()["build"]
    assert build["status"] == "error"
    assert build["error"].startswith(".drone.yml:") and "invalid YAML" in build["error"]


def test_gitlab_push_with_its_token(client, hooked, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "GitLab change")
    data = payload("gitlab_push")
    data.update(ref="refs/heads/main", after=sha, checkout_sha=sha)
    data["commits"][-1]["id"] = sha
    raw = json.dumps(data).encode()
    headers = {
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": SECRET,
        "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
    }
    resp = client.post("/hook/acme/gitlab", data=raw, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["build"]["commit"] == sha
    headers["X-Gitlab-Token"] = "wrong"
    headers["X-Gitlab-Event-UUID"] = "another"
    assert client.post("/hook/acme/gitlab", data=raw, headers=headers).status_code == 401


def test_gitlab_subgroup_repository(client, services, origin):
    sha = origin.commit({".drone.yml": SIMPLE}, "Nested")
    services.stores.repos.create(
        "acme/platform/api", forge="gitlab", clone_url=origin.url, webhook_secret=SECRET
    )
    data = payload("gitlab_push")
    data.update(ref="refs/heads/main", after=sha, checkout_sha=sha, commits=[])
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}
    resp = client.post("/hook/acme/platform/api", data=json.dumps(data), headers=headers)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["build"]["url"].endswith("/repos/acme/platform/api/1")
    status_reporter(services).stop()


@pytest.mark.parametrize("forge", ["gitea", "gogs"])
def test_gitea_and_gogs_pushes(client, hooked, origin, forge):
    sha = origin.commit({".drone.yml": SIMPLE}, f"{forge} change")
    data = payload(f"{forge}_push")
    data.update(ref="refs/heads/main", after=sha, before="0" * 40)
    data["commits"][0].update(id=sha, message=f"{forge} change")
    data.pop("head_commit", None)
    raw = json.dumps(data).encode()
    name = forge.capitalize()
    headers = {
        f"X-{name}-Event": "push",
        f"X-{name}-Delivery": f"{forge}-1",
        f"X-{name}-Signature": sign(raw),
    }
    resp = client.post(f"/hook/acme/{forge}", data=raw, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    (build,) = builds_of(hooked, f"acme/{forge}")
    assert build.commit == sha and build.branch == "main"


def test_generic_webhook_builds_a_branch_tip(client, hooked, origin):
    origin.commit({".drone.yml": SIMPLE}, "first")
    tip = origin.commit({"notes.txt": "more"}, "Tip of main")
    raw = json.dumps({"event": "custom", "branch": "main", "sender": "deploy-bot"}).encode()
    headers = {"X-Runner-Signature": "sha256=" + sign(raw), "X-Runner-Delivery": "job-1"}
    resp = client.post("/hook/acme/generic", data=raw, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    (build,) = builds_of(hooked, "acme/generic")
    assert build.commit == tip and build.event == "custom" and build.sender == "deploy-bot"
    assert build.message.startswith("Tip of main")
    # The generic signature also works for a repository of another forge that enables it.
    resp = client.post("/hook/acme/web", data=raw, headers={**headers, "X-Runner-Delivery": "2"})
    assert resp.status_code == 403 and "generic webhook is off" in resp.get_json()["error"]
    web = hooked.stores.repos.get_by_slug("acme/web")
    hooked.stores.repos.update(web.id, generic_hook=True)
    resp = client.post("/hook/acme/web", data=raw, headers={**headers, "X-Runner-Delivery": "2"})
    assert resp.status_code == 201
