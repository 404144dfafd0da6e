"""The environments API: CRUD with validation and roles, promote/rollback builds, approval
roles, and the reasons a waiting stage gives."""

from __future__ import annotations

import pytest

from tests.agents.conftest import auth, git_in, make_git_repo, user_token

PIPELINE = """\
kind: pipeline
name: deploy
steps:
- name: show
  image: runner-test/busybox
  commands: [echo $DRONE_DEPLOY_TO]
- name: deploy
  image: runner-test/busybox
  commands: [echo deploying to $DRONE_DEPLOY_TO]
  when:
    target: [production, staging]
"""


@pytest.fixture
def repo(stores, tmp_path):
    url = make_git_repo(tmp_path / "src", {".drone.yml": PIPELINE})
    return stores.repos.create("acme/app", forge="generic", clone_url=url)


@pytest.fixture
def tokens(stores, repo):
    out = {"admin": user_token(stores, "admin")}
    for login, role in (("reader", "read"), ("writer", "write"), ("owner", "admin")):
        out[login] = user_token(stores, login)
        stores.users.grant(stores.users.find(login).id, repo.id, role)
    return out


BASE = "/api/v1/repos/acme/app"


def test_owner_creates_lists_updates_and_deletes_an_environment(client, tokens):
    created = client.post(
        f"{BASE}/environments",
        json={
            "name": "production",
            "tags": ["v*"],
            "labels": "env=production",
            "approval": True,
            "lock": True,
        },
        headers=auth(tokens["owner"]),
    )
    assert created.status_code == 201, created.json
    assert created.json["labels"] == {"env": "production"} and created.json["approval"]
    listed = client.get(f"{BASE}/environments", headers=auth(tokens["reader"])).json
    assert [e["name"] for e in listed] == ["production"]
    patched = client.patch(
        f"{BASE}/environments/production", json={"lock": False}, headers=auth(tokens["owner"])
    )
    assert patched.json["lock"] is False and patched.json["approval"] is True
    assert patched.json["tags"] == ["v*"]
    gone = client.delete(f"{BASE}/environments/production", headers=auth(tokens["owner"]))
    assert gone.status_code == 200
    assert client.get(f"{BASE}/environments", headers=auth(tokens["reader"])).json == []


def test_writers_cannot_change_environments_and_bad_fields_are_refused(client, tokens):
    denied = client.post(
        f"{BASE}/environments", json={"name": "test"}, headers=auth(tokens["writer"])
    )
    assert denied.status_code == 403
    bad = client.post(
        f"{BASE}/environments",
        json={"name": "test", "aproval": True},
        headers=auth(tokens["owner"]),
    )
    assert bad.status_code == 400
    assert 'did you mean "approval"' in bad.json["error"]
    missing = client.patch(
        f"{BASE}/environments/nowhere", json={"lock": True}, headers=auth(tokens["owner"])
    )
    assert missing.status_code == 404


def test_promote_needs_write_builds_the_commit_and_waits_for_approval(client, stores, tokens):
    client.post(
        f"{BASE}/environments",
        json={"name": "production", "labels": {"env": "production"}, "approval": True},
        headers=auth(tokens["owner"]),
    )
    first = client.post(f"{BASE}/builds", json={}, headers=auth(tokens["writer"]))
    assert first.status_code == 201, first.json
    number = first.json["number"]
    refused = client.post(
        f"{BASE}/builds/{number}/promote",
        json={"target": "production"},
        headers=auth(tokens["reader"]),
    )
    assert refused.status_code == 403
    promoted = client.post(
        f"{BASE}/builds/{number}/promote",
        json={"target": "production"},
        headers=auth(tokens["writer"]),
    )
    assert promoted.status_code == 201, promoted.json
    build = promoted.json
    assert build["event"] == "promote" and build["target"] == "production"
    assert build["commit"] == first.json["commit"] and build["status"] == "blocked"
    assert build["stages"][0]["labels"] == {"env": "production"}
    waiting = client.get(
        f"{BASE}/builds/{build['number']}/waiting", headers=auth(tokens["reader"])
    ).json
    assert "approve to deploy to production" in waiting[0]["reason"]

    not_allowed = client.post(
        f"{BASE}/builds/{build['number']}/approve", headers=auth(tokens["reader"])
    )
    assert not_allowed.status_code == 403
    approved = client.post(
        f"{BASE}/builds/{build['number']}/approve", headers=auth(tokens["writer"])
    )
    assert approved.status_code == 200 and approved.json["status"] == "pending"
    waiting = client.get(
        f"{BASE}/builds/{build['number']}/waiting", headers=auth(tokens["reader"])
    ).json
    assert waiting[0]["reason"] == "no agent with env=production is connected"


def test_promote_to_an_unknown_environment_is_404_and_rollback_uses_the_event(
    client, tokens, tmp_path
):
    first = client.post(f"{BASE}/builds", json={}, headers=auth(tokens["writer"])).json
    unknown = client.post(
        f"{BASE}/builds/{first['number']}/promote",
        json={"target": "mars"},
        headers=auth(tokens["writer"]),
    )
    assert unknown.status_code == 404
    client.post(f"{BASE}/environments", json={"name": "staging"}, headers=auth(tokens["owner"]))
    back = client.post(
        f"{BASE}/builds/{first['number']}/rollback",
        json={"target": "staging"},
        headers=auth(tokens["writer"]),
    ).json
    assert back["event"] == "rollback" and back["target"] == "staging"
    assert back["status"] == "pending" and back["parent"] == first["number"]
    assert back["commit"] == git_in(tmp_path / "src", "rev-parse", "HEAD")


def test_environments_declared_in_the_pipeline_file_are_stored_and_used(
    client, stores, tmp_path, repo, tokens
):
    src = tmp_path / "src"
    (src / ".drone.yml").write_text(
        "environments:\n  test:\n    branches: [main]\n    labels: {env: test}\n\n" + PIPELINE
    )
    git_in(src, "commit", "-qam", "declare")
    build = client.post(f"{BASE}/builds", json={}, headers=auth(tokens["writer"])).json
    assert build["target"] == "test" and build["stages"][0]["labels"] == {"env": "test"}
    assert [e.name for e in stores.environments.of_repo(repo.id)] == ["test"]


def test_a_bad_declaration_gives_an_error_build_with_file_and_line(client, tmp_path, tokens):
    src = tmp_path / "src"
    (src / ".drone.yml").write_text("environments:\n  test:\n    lokc: true\n" + PIPELINE)
    git_in(src, "commit", "-qam", "typo")
    build = client.post(f"{BASE}/builds", json={}, headers=auth(tokens["writer"])).json
    assert build["status"] == "error"
    assert '.drone.yml:1: error: environments.test.lokc: unknown key "lokc"' in build["error"]


def test_agent_status_lists_labels_contact_and_running_stages(client, stores, tokens):
    from runner.services.agents import register_agent

    client.post(f"{BASE}/builds", json={}, headers=auth(tokens["writer"]))
    busy = register_agent(stores, "busy", labels={"env": "test"}, capacity=2)
    register_agent(stores, "idle", labels={}, capacity=1)
    stores.stages.claim(stores.agents.touch(busy.id))
    assert client.get("/api/v1/agents/status", headers=auth(tokens["writer"])).status_code == 403
    listed = {
        a["name"]: a
        for a in client.get("/api/v1/agents/status", headers=auth(tokens["admin"])).json
    }
    assert listed["busy"]["running"] == [{"repo": "acme/app", "build": 1, "stage": "deploy"}]
    assert listed["busy"]["connected"] and listed["busy"]["labels"] == {"env": "test"}
    assert listed["idle"]["running"] == [] and not listed["idle"]["connected"]
