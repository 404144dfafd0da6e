"""`/healthz` and `/readyz` of a real `runner server`: both open to anyone and cheap; on
PostgreSQL, `/readyz` answers 503 with a reason word while the database refuses connections,
while a lock holds the probe's query past its timeout (one query in flight however many probes
arrive) and while the schema is not at this server's head, and 200 again once each is over;
`/healthz` answers 200 throughout. On SQLite, a schema behind the code is not ready either;
and all three answer while every long-poll place of the admission control is taken."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
import requests

from runner.server.health import migration_head
from runner.testing import ServerProcess


def get(server: ServerProcess, path: str) -> requests.Response:
    return requests.get(server.url + path, timeout=30)


def wait_ready(
    server: ServerProcess, status: int, reason: str = "", timeout: float = 60
) -> requests.Response:
    """Probe ``/readyz`` until it answers ``status`` (and ``reason``), and return that answer;
    fail saying what it answered last."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        resp = get(server, "/readyz")
        last = (resp.status_code, resp.text)
        body = resp.json()
        if resp.status_code == status and body.get("reason", "") == reason:
            return resp
        time.sleep(0.2)
    raise AssertionError(f"/readyz never answered {status} {reason!r}; last: {last}")


def admin(postgres_server, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``sql`` on the cluster's maintenance database as its superuser."""
    with psycopg.connect(
        host="127.0.0.1",
        port=postgres_server.port,
        user="postgres",
        dbname="postgres",
        autocommit=True,
    ) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def waiting_on_lock(postgres_server, database: str) -> int:
    """How many of the server's queries of the migration revision wait on a lock."""
    rows = admin(
        postgres_server,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
        "AND query LIKE %s AND wait_event_type = 'Lock'",
        database,
        "%FROM alembic_version%",
    )
    return int(rows[0][0])


@pytest.fixture
def pg_server(tmp_path, postgres_server, postgres_migrated_url):
    proc = ServerProcess(
        tmp_path / "data", embedded_agent=False, database_url=postgres_migrated_url
    ).start()
    proc.database = postgres_migrated_url.rsplit("/", 1)[1]
    yield proc
    proc.stop()


@pytest.mark.postgres
def test_both_answer_anyone_with_a_status_word_and_nothing_more(pg_server):
    health = get(pg_server, "/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    # Waited for: a check on a loaded machine may outlast its timeout.
    ready = wait_ready(pg_server, 200)
    assert ready.json() == {"status": "ready"}
    for resp in (health, ready):
        assert "Set-Cookie" not in resp.headers
        assert resp.headers.get("Cache-Control") == "no-store"


@pytest.mark.postgres
def test_readyz_is_503_while_the_database_refuses_connections_and_200_after(
    pg_server, postgres_server
):
    name = pg_server.database
    admin(postgres_server, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        admin(
            postgres_server,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            name,
        )
        wait_ready(pg_server, 503, "database unreachable")
        health = get(pg_server, "/healthz")
        assert health.status_code == 200, health.text
    finally:
        admin(postgres_server, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    wait_ready(pg_server, 200)


@pytest.mark.postgres
def test_readyz_is_503_while_a_lock_holds_its_query_and_runs_one_query_meanwhile(
    pg_server, postgres_server
):
    url = f"host=127.0.0.1 port={postgres_server.port} user=postgres dbname={pg_server.database}"
    with psycopg.connect(url) as locker:
        locker.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        # Answers are reused for a second: wait for one made while the lock is held.
        wait_ready(pg_server, 503, "database did not answer in time")
        for _ in range(5):
            resp = get(pg_server, "/readyz")
            assert resp.status_code == 503, resp.text
        # However many probes came, one query waits on the lock (polled: on a slow machine
        # the probe may still be connecting).
        seen: list[int] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and 1 not in seen:
            seen.append(waiting_on_lock(postgres_server, pg_server.database))
            time.sleep(0.2)
        assert seen[-1] == 1 and max(seen) == 1, f"queries waiting on the lock: {seen}"
        locker.rollback()
    wait_ready(pg_server, 200)


@pytest.mark.postgres
def test_readyz_is_503_while_the_schema_is_not_at_head_and_200_after(pg_server, postgres_server):
    head = migration_head()
    url = f"host=127.0.0.1 port={postgres_server.port} user=postgres dbname={pg_server.database}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
        try:
            wait_ready(pg_server, 503, "database schema not at head")
        finally:
            conn.execute("UPDATE alembic_version SET version_num = %s", (head,))
    wait_ready(pg_server, 200)


def test_readyz_on_sqlite_is_503_while_the_schema_is_behind(tmp_path):
    import sqlite3

    with ServerProcess(tmp_path / "data", embedded_agent=False) as server:
        wait_ready(server, 200)
        db = sqlite3.connect(tmp_path / "data" / "runner.db", timeout=30)
        try:
            (head,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
            with db:
                db.execute("DELETE FROM alembic_version")
            wait_ready(server, 503, "database not migrated")
            with db:
                db.execute("INSERT INTO alembic_version VALUES (?)", (head,))
        finally:
            db.close()
        wait_ready(server, 200)


def test_health_readiness_and_metrics_answer_while_every_long_poll_place_is_taken(tmp_path):
    """The endpoints pass no admission gate: agents parked on every claim-wait place (and more
    agents refused with 503) do not hold them up."""
    extra = {"RUNNER_CLAIM_WAITS_MAX": "2", "RUNNER_WORKERS_THREADS": "4"}
    with ServerProcess(tmp_path / "data", embedded_agent=False, extra_env=extra) as server:
        tokens = [server.cli("user", "agent-token", f"parked-{i}").strip() for i in range(3)]
        admin_token = server.token("admin")
        stop = threading.Event()

        def park(token: str) -> None:
            while not stop.is_set():
                requests.post(
                    server.url + "/rpc/v1/claim",
                    json={"timeout": 10},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                )

        parked = [threading.Thread(target=park, args=(t,), daemon=True) for t in tokens[:2]]
        for thread in parked:
            thread.start()
        try:
            seen: list[int] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and 503 not in seen:
                resp = requests.post(
                    server.url + "/rpc/v1/claim",
                    json={"timeout": 1},
                    headers={"Authorization": f"Bearer {tokens[2]}"},
                    timeout=60,
                )
                seen.append(resp.status_code)
            assert 503 in seen, f"a third agent was never refused a place: {seen}"
            assert get(server, "/healthz").status_code == 200
            wait_ready(server, 200)
            scraped = requests.get(
                server.url + "/metrics",
                headers={"Authorization": f"Bearer {admin_token}"},
                timeout=30,
            )
            assert scraped.status_code == 200, scraped.text[:300]
            assert 'runner_rpc_request_duration_seconds_count{call="claim",code="503"}' in (
                scraped.text
            )
        finally:
            stop.set()
            for thread in parked:
                thread.join(timeout=60)
