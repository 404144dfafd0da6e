"""Fixtures of the end-to-end tests: a real `runner server` subprocess on 127.0.0.1 with its
embedded agent on the local Docker engine, and a local bare git repository as the forge."""

from __future__ import annotations

import pytest

from tests.e2e.harness import LocalRepo, ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_client):
    """One server per test module; tests use their own repositories."""
    proc = ServerProcess(tmp_path_factory.mktemp("server") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def admin_token(server):
    return server.token("admin")


@pytest.fixture
def local_repo(tmp_path):
    return LocalRepo(tmp_path / "git")


def add_repo(server, token: str, slug: str, repo: LocalRepo, forge: str = "github") -> dict:
    """Activate ``slug`` over the API; returns the repository with its webhook secret."""
    resp = server.api(
        "POST", "/repos", token, json={"slug": slug, "forge": forge, "clone_url": repo.clone_url}
    )
    assert resp.status_code == 201, resp.text
    return resp.json()
