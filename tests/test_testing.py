"""The test harness (runner.testing) against a real `runner server`: a test server starts from a
copy of the migrated template and hashes passwords cheaply, a server on an empty data directory
migrates it itself as in production, a legacy password hash logs in through the form and is
stored again as scrypt, a port taken before the first start is traded for a free one, the
servers and agents it starts carry the session's id and Docker label, and the end-of-session
sweep of a parallel run removes that session's Docker resources and no other session's."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import requests
from sqlalchemy import select, update

from runner.store.db import Database
from runner.store.models import UserRow
from runner.testing import (
    SESSION_ENV,
    TEST_LABEL,
    AgentProcess,
    ServerProcess,
    migrated_sqlite,
    session_id,
    session_label,
)

PASSWORD = "correct-horse-battery"


def admin_hash(db: Database) -> str:
    with db.session() as s:
        return s.scalar(select(UserRow.password_hash).where(UserRow.login == "admin"))


def log_in(server: ServerProcess, login: str, password: str) -> int:
    """The status of the login form's POST (302: logged in)."""
    browser = requests.Session()
    page = browser.get(server.url + "/login", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = browser.post(
        server.url + "/login",
        data={"login": login, "password": password, "csrf_token": csrf},
        allow_redirects=False,
        timeout=30,
    )
    return answer.status_code


def test_copies_of_the_template_are_migrated_and_independent(tmp_path):
    first = Database(migrated_sqlite(tmp_path / "a" / "runner.db"))
    second = Database(migrated_sqlite(tmp_path / "b" / "runner.db"))
    assert first.revision() is not None and first.revision() == second.revision()
    with first.write() as s:
        s.add(UserRow(login="only-in-a", password_hash="", is_admin=False, created=0.0))
    with second.session() as s:
        assert s.scalar(select(UserRow.id)) is None
    assert (tmp_path / "a" / "runner.db").stat().st_mode & 0o077 == 0
    first.dispose()
    second.dispose()


def test_a_test_server_starts_on_the_template_and_hashes_cheaply(tmp_path):
    with ServerProcess(tmp_path / "data", embedded_agent=False) as server:
        assert log_in(server, "admin", server.env["RUNNER_ADMIN_PASSWORD"]) == 302
    db = Database(f"sqlite:///{tmp_path / 'data' / 'runner.db'}")
    assert admin_hash(db).startswith("pbkdf2:sha256:1$")
    db.dispose()


def test_a_server_migrates_an_empty_data_directory_itself(tmp_path):
    data = tmp_path / "data"
    strong = {"RUNNER_PASSWORD_HASH_METHOD": "scrypt"}  # what a real server does
    with ServerProcess(data, embedded_agent=False, migrated_copy=False, extra_env=strong) as srv:
        assert log_in(srv, "admin", srv.env["RUNNER_ADMIN_PASSWORD"]) == 302
    db = Database(f"sqlite:///{data / 'runner.db'}")
    assert db.revision() is not None
    assert admin_hash(db).startswith("scrypt:32768:8:1$")
    db.dispose()


def test_a_legacy_password_hash_logs_in_and_is_stored_again_as_scrypt(tmp_path):
    strong = {"RUNNER_PASSWORD_HASH_METHOD": "scrypt"}
    with ServerProcess(tmp_path / "data", embedded_agent=False, extra_env=strong) as server:
        server.cli("user", "add", "alice", "--password", PASSWORD)
        salt = secrets.token_bytes(16)
        digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1)
        legacy = f"scrypt${salt.hex()}${digest.hex()}"  # as the store wrote them before
        db = Database(f"sqlite:///{tmp_path / 'data' / 'runner.db'}")
        with db.write() as s:
            s.execute(update(UserRow).where(UserRow.login == "alice").values(password_hash=legacy))

        assert log_in(server, "alice", "wrong-password") == 401
        with db.session() as s:
            assert s.scalar(select(UserRow.password_hash).where(UserRow.login == "alice")) == legacy
        assert log_in(server, "alice", PASSWORD) == 302
        with db.session() as s:
            stored = s.scalar(select(UserRow.password_hash).where(UserRow.login == "alice"))
        assert stored.startswith("scrypt:32768:8:1$")
        assert log_in(server, "alice", PASSWORD) == 302
        db.dispose()


def test_a_port_taken_before_the_first_start_is_traded_for_a_free_one(tmp_path):
    server = ServerProcess(tmp_path / "data", embedded_agent=False)
    taken = server.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with server:
            assert server.port != taken
            assert requests.get(server.url + "/api/v1/user", timeout=30).status_code == 401


def test_servers_and_agents_carry_the_sessions_id_and_docker_label(tmp_path):
    server = ServerProcess(tmp_path / "server", embedded_agent=False).start()
    try:
        agent = AgentProcess(server, tmp_path / "agent", "labelled")
        assert session_label() == f"{TEST_LABEL}={session_id()}"
        for env in (server.env, agent.env):
            assert env[SESSION_ENV] == session_id()
            assert env["RUNNER_AGENT_ENGINE_LABELS"] == session_label()
    finally:
        server.stop()


SWEPT_SESSION = """
import docker

from runner.testing import session_label


def test_leaves_a_container_and_a_volume_behind():
    client = docker.from_env()
    key, value = session_label().split("=")
    client.containers.create("runner-test/busybox", ["true"], labels={key: value})
    client.volumes.create(labels={key: value})
"""


def test_the_sweep_removes_what_its_session_left_and_nothing_of_another(tmp_path, docker_client):
    other = docker_client.containers.create(
        "runner-test/busybox", ["true"], labels={TEST_LABEL: "another-session"}
    )
    try:
        (tmp_path / "test_leftovers.py").write_text(SWEPT_SESSION)
        ours = "swept" + uuid.uuid4().hex[:8]
        env = {**os.environ, SESSION_ENV: ours, "RUNNER_TEST_SWEEP": "1"}
        tests = Path(__file__).parent
        env["PYTHONPATH"] = os.pathsep.join([str(tests), env.get("PYTHONPATH", "")])
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest"]
            + ["-n", "2", "--rootdir", str(tmp_path), str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        label = {"label": f"{TEST_LABEL}={ours}"}
        assert docker_client.containers.list(all=True, filters=label) == []
        assert docker_client.volumes.list(filters=label) == []
        other.reload()  # still there: another session's
    finally:
        other.remove(force=True)
