"""Fixtures of the agent and environment tests: an app on a temporary SQLite database, user
tokens per role, and a local git repository holding a pipeline file."""

from __future__ import annotations

import subprocess

import pytest

from runner.server.app import create_app
from runner.testing import app_settings

ADMIN_PASSWORD = "admin-password-agents"


@pytest.fixture
def app(tmp_path):
    settings = app_settings(tmp_path / "data", admin_password=ADMIN_PASSWORD, embedded_agent=False)
    app = create_app(settings, start_background=False)
    yield app
    app.extensions["runner"].db.dispose()


@pytest.fixture
def stores(app):
    return app.extensions["runner"].stores


@pytest.fixture
def client(app):
    return app.test_client()


def make_git_repo(path, files: dict[str, str], *, branch: str = "main") -> str:
    """A git repository at ``path`` with ``files`` committed on ``branch``; its file:// URL."""
    path.mkdir(parents=True, exist_ok=True)

    def git(*args):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)

    git("init", "-q", "-b", branch)
    git("config", "user.email", "dev@example.com")
    git("config", "user.name", "Dev")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git("add", "-A")
    git("commit", "-q", "-m", "first")
    return f"file://{path}"


def git_in(path, *args) -> str:
    out = subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def user_token(stores, login: str, *, is_admin: bool = False) -> str:
    user = stores.users.find(login) or stores.users.create(
        login, "password-" + login, is_admin=is_admin
    )
    _token, plain = stores.tokens.create(f"{login}-token", kind="user", user_id=user.id)
    return plain


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
