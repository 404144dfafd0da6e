"""Fixtures of the server tests: an application on a temporary SQLite database, its stores,
and API tokens for each kind of caller."""

from __future__ import annotations

import pytest

from runner.core import Build
from runner.pipeline.spec import CloneSpec, StageSpec, StepSpec
from runner.server.app import create_app
from runner.services.agents import issue_agent_token, register_agent
from runner.store import stage_from_spec
from runner.testing import app_settings

ADMIN_PASSWORD = "admin-password-tests"


@pytest.fixture
def settings(tmp_path):
    return app_settings(tmp_path / "data", admin_password=ADMIN_PASSWORD, embedded_agent=False)


@pytest.fixture
def app(settings):
    app = create_app(settings, start_background=False)
    yield app
    app.extensions["runner"].db.dispose()


@pytest.fixture
def services(app):
    return app.extensions["runner"]


@pytest.fixture
def stores(services):
    return services.stores


@pytest.fixture
def client(app):
    return app.test_client()


def user_token(stores, login: str, *, is_admin: bool = False) -> str:
    user = stores.users.find(login) or stores.users.create(
        login, "password-" + login, is_admin=is_admin
    )
    _token, plain = stores.tokens.create(f"{login}-token", kind="user", user_id=user.id)
    return plain


@pytest.fixture
def repo(stores):
    return stores.repos.create("acme/app", forge="github", clone_url="file:///nonexistent")


@pytest.fixture
def tokens(stores, repo):
    """Tokens by caller kind: admin (server), read/write/owner (roles on acme/app), agent,
    outsider (a user with no role), and none."""
    out = {"none": "", "admin": user_token(stores, "admin")}
    for login, role in (("reader", "read"), ("writer", "write"), ("owner", "admin")):
        out[role if role != "admin" else "owner"] = user_token(stores, login)
        stores.users.grant(stores.users.find(login).id, repo.id, role)
    out["outsider"] = user_token(stores, "outsider")
    agent = register_agent(stores, "agent-1", labels={}, capacity=1)
    out["agent"] = issue_agent_token(stores, agent)
    return out


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def seed_build(stores, repo, *, commands=("echo hi",), event="push") -> Build:
    """A build with one stage of one step, as the triggerer would store it."""
    spec = StageSpec(
        name="default",
        clone=CloneSpec(disable=True),
        steps=[StepSpec(name="test", image="runner-test/busybox", commands=list(commands))],
    )
    build = Build(
        id=0,
        repo_id=repo.id,
        number=0,
        event=event,
        branch="main",
        commit="a" * 40,
        stages=[stage_from_spec(spec)],
    )
    return stores.builds.create(build)
