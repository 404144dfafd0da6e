"""The deployments API in the app: the read role is needed to see a private repository's
deployments (no token 401; a user without a role gets 404, as if it did not exist), bad paging
arguments are a 400 naming the argument, the history pages by record id, and an environment
removed since still shows in the status with its records. The run that fills the records is
tests/agents/test_deployments.py."""

from __future__ import annotations

import pytest

from runner.core import Build
from tests.agents.conftest import auth, user_token
from tests.store.helpers import make_build

BASE = "/api/v1/repos/acme/app"


@pytest.fixture
def repo(stores):
    return stores.repos.create("acme/app", forge="generic", private=True)


@pytest.fixture
def tokens(stores, repo):
    out = {"reader": user_token(stores, "reader"), "stranger": user_token(stores, "stranger")}
    stores.users.grant(stores.users.find("reader").id, repo.id, "read")
    return out


def deploy(stores, repo, target: str) -> Build:
    build = make_build(repo.id)
    build.target = target
    return stores.builds.create(build)


def test_a_reader_pages_through_the_history_newest_first(client, stores, repo, tokens):
    made = [deploy(stores, repo, "staging").number for _ in range(3)]
    first = client.get(f"{BASE}/deployments?limit=2", headers=auth(tokens["reader"]))
    assert first.status_code == 200
    assert [r["build_number"] for r in first.json] == made[:0:-1]
    rest = client.get(
        f"{BASE}/deployments?limit=2&before={first.json[-1]['id']}",
        headers=auth(tokens["reader"]),
    )
    assert [r["build_number"] for r in rest.json] == made[:1]
    other = client.get(f"{BASE}/deployments?environment=prod", headers=auth(tokens["reader"]))
    assert other.json == []


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("limit=0", "limit must be at least 1"),
        ("limit=101", "limit must be at most 100"),
        ("limit=ten", "limit must be a whole number"),
        ("before=-1", "before must be at least 1"),
        ("environment=" + "e" * 201, "at most 200 characters"),
    ],
)
def test_bad_paging_arguments_are_a_400_that_names_them(client, tokens, query, why):
    resp = client.get(f"{BASE}/deployments?{query}", headers=auth(tokens["reader"]))
    assert resp.status_code == 400
    assert why in resp.json["error"]


def test_only_users_with_a_role_see_deployments(client, tokens):
    for path in ("/deployments", "/deployments/status", "/environments/staging/status"):
        assert client.get(BASE + path).status_code == 401
        assert client.get(BASE + path, headers=auth(tokens["stranger"])).status_code == 404


def test_status_lists_each_environment_and_one_removed_since(client, stores, repo, tokens):
    stores.environments.create(repo.id, "staging")
    build = deploy(stores, repo, "old-env")
    statuses = client.get(f"{BASE}/deployments/status", headers=auth(tokens["reader"])).json
    assert [(s["environment"], s["exists"]) for s in statuses] == [
        ("staging", True),
        ("old-env", False),
    ]
    assert statuses[1]["deploying"]["build_number"] == build.number
    assert statuses[0]["live"] is None
    one = client.get(f"{BASE}/environments/staging/status", headers=auth(tokens["reader"]))
    assert one.json["environment"] == "staging"
    missing = client.get(f"{BASE}/environments/nowhere/status", headers=auth(tokens["reader"]))
    assert missing.status_code == 404
