"""Repository settings against a real `runner server`: only a server admin points a repository at
a new or local clone URL, slugs that climb out (`../..`) are refused, credentials in clone URLs
are hidden from readers, webhook secrets are encrypted in the database, the data directory and
its files are the owner's alone, and every answer carries the security headers."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from runner.store.db import Database
from runner.store.repos import RepoStore
from runner.testing import LocalRepo, ServerProcess, github_push

CREDENTIAL_URL = "https://ci-bot:glpat-TOPSECRET@git.example.com/acme/private.git"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("repos"), embedded_agent=False) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(server):
    return server.token()


def add_repo(server, admin, slug, clone_url="https://git.example.com/acme/app.git", **extra):
    resp = server.api("POST", "/repos", admin, json={"slug": slug, "clone_url": clone_url, **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()


def user_with_role(server, admin, slug, login, role):
    server.cli("user", "add", login, "--password", "a-long-enough-password")
    resp = server.api("PUT", f"/repos/{slug}/perms/{login}", admin, json={"role": role})
    assert resp.status_code == 200, resp.text
    return server.token(login)


def test_a_repo_admin_cannot_point_the_repository_at_a_local_path(server, admin):
    add_repo(server, admin, "acme/app")
    owner = user_with_role(server, admin, "acme/app", "repo-owner", "admin")
    for url in (
        "file:///srv/mirrors/acme-secret.git",
        "/var/lib/runner/mirrors/x",
        "ext::sh -c id",
    ):
        resp = server.api("PATCH", "/repos/acme/app", owner, json={"clone_url": url})
        assert resp.status_code == 403, resp.text
        assert "only a server admin" in resp.json()["error"]
    other = server.api(
        "PATCH", "/repos/acme/app", owner, json={"clone_url": "https://evil.example/x.git"}
    )
    assert other.status_code == 403
    assert "only a server admin may change a repository's clone URL" in other.json()["error"]
    shown = server.api("GET", "/repos/acme/app", owner).json()
    assert shown["clone_url"] == "https://git.example.com/acme/app.git"
    # The settings the repository admin owns still change, the clone URL sent back unchanged.
    same = server.api(
        "PATCH", "/repos/acme/app", owner, json={"clone_url": shown["clone_url"], "timeout": 900}
    )
    assert same.status_code == 200 and same.json()["timeout"] == 900


def test_a_server_admin_may_set_a_local_clone_url(server, admin):
    add_repo(server, admin, "acme/local")
    resp = server.api(
        "PATCH", "/repos/acme/local", admin, json={"clone_url": "file:///srv/git/local.git"}
    )
    assert resp.status_code == 200 and resp.json()["clone_url"] == "file:///srv/git/local.git"


@pytest.mark.parametrize(
    "slug",
    ["../..", "acme/..", "./x", "acme//app", "acme", "ac me/app", "acme/app?x", "a/" + "b" * 300],
)
def test_malformed_slugs_are_refused_with_400(server, admin, slug):
    resp = server.api("POST", "/repos", admin, json={"slug": slug, "clone_url": "https://h/x.git"})
    assert resp.status_code == 400, resp.text
    assert "slug" in resp.json()["error"]


def test_the_cli_refuses_a_slug_that_climbs_out(server):
    out = subprocess.run(
        [sys.executable, "-m", "runner", "repo", "add", "../..", "--clone-url", "https://h/x"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "not a valid OWNER/NAME slug" in out.stderr


def test_clone_url_credentials_are_hidden_from_readers_and_the_cli(server, admin):
    add_repo(server, admin, "acme/private", CREDENTIAL_URL)
    reader = user_with_role(server, admin, "acme/private", "reader1", "read")
    for token in (reader, admin):
        one = server.api("GET", "/repos/acme/private", token)
        assert one.json()["clone_url"] == "https://***@git.example.com/acme/private.git"
        listed = server.api("GET", "/repos", token)
        assert "TOPSECRET" not in one.text and "TOPSECRET" not in listed.text
    assert "TOPSECRET" not in server.cli("repo", "show", "acme/private")
    assert "TOPSECRET" not in server.cli("repo", "ls")


def test_webhook_secrets_are_encrypted_in_the_database_and_still_verify(server, admin, tmp_path):
    repo = add_repo(server, admin, "acme/hooked", forge="github")
    secret = repo["webhook_secret"]
    with sqlite3.connect(server.data_dir / "runner.db") as db:
        (stored,) = db.execute(
            "SELECT webhook_secret FROM repos WHERE slug='acme/hooked'"
        ).fetchone()
    assert stored.startswith("enc:") and secret not in stored
    source = LocalRepo(tmp_path / "forge")
    sha = source.commit({".drone.yml": "kind: pipeline\nsteps: []\n"})
    headers, body = github_push("acme/hooked", source, sha, secret)
    assert server.post_hook("acme/hooked", headers, body).status_code < 300


def test_plain_webhook_secrets_of_older_versions_are_encrypted_at_start(tmp_path):
    data = tmp_path / "old"
    data.mkdir()
    db = Database(f"sqlite:///{data / 'runner.db'}")
    db.migrate()
    RepoStore(db).create("acme/old", forge="github", clone_url="https://h/x", webhook_secret="s3")
    db.dispose()
    with ServerProcess(data, embedded_agent=False) as srv:
        with sqlite3.connect(data / "runner.db") as conn:
            (stored,) = conn.execute("SELECT webhook_secret FROM repos").fetchone()
        assert stored.startswith("enc:")
        source = LocalRepo(tmp_path / "forge")
        sha = source.commit({".drone.yml": "kind: pipeline\nsteps: []\n"})
        headers, body = github_push("acme/old", source, sha, "s3")
        assert srv.post_hook("acme/old", headers, body).status_code < 300


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_data_directory_and_its_files_are_the_owners_alone(server):
    data = server.data_dir
    assert mode(data) == 0o700
    # The write-ahead log and shared memory files exist while the server has the database open.
    for name in ("runner.db", "runner.db-wal", "runner.db-shm", "secret.key", "session.key"):
        assert mode(data / name) == 0o600, name


def test_loose_permissions_are_fixed_on_start(tmp_path):
    data = tmp_path / "loose"
    with ServerProcess(data, embedded_agent=False):
        pass
    os.chmod(data, 0o755)
    for name in ("runner.db", "secret.key", "session.key"):
        os.chmod(data / name, 0o644)
    with ServerProcess(data, embedded_agent=False):
        assert mode(data) == 0o700
        for name in ("runner.db", "secret.key", "session.key"):
            assert mode(data / name) == 0o600, name


def test_api_answers_carry_security_headers_and_are_not_cached(server, admin):
    resp = server.api("GET", "/user", admin)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["Cache-Control"] == "no-store"
    error = server.api("GET", "/repos/nobody/nothing", admin)
    assert error.status_code == 404 and error.headers["X-Content-Type-Options"] == "nosniff"
    token = server.api("POST", "/user/tokens", admin, json={"name": "h"})
    assert token.headers["Cache-Control"] == "no-store"


def test_web_pages_carry_a_content_security_policy_and_no_framing(server):
    page = server.http.get(server.url + "/login", timeout=30)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_a_webhook_cannot_name_a_local_clone_url_for_a_repository_without_one(tmp_path):
    data = tmp_path / "bare"
    data.mkdir()
    db = Database(f"sqlite:///{data / 'runner.db'}")
    db.migrate()
    RepoStore(db).create("acme/nourl", forge="github", webhook_secret="s3")
    db.dispose()
    source = LocalRepo(tmp_path / "forge")
    sha = source.commit({".drone.yml": "kind: pipeline\nsteps: []\n"})
    with ServerProcess(data, embedded_agent=False) as srv:
        headers, body = github_push("acme/nourl", source, sha, "s3")  # clone_url: file://…
        srv.post_hook("acme/nourl", headers, body)
        admin = srv.token()
        build = srv.api("GET", "/repos/acme/nourl/builds", admin).json()[0]
        assert build["status"] == "error" and "has no clone URL" in build["error"]
