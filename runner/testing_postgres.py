"""A real PostgreSQL server for tests and benchmarks (``runner.testing``), from the machine's
own PostgreSQL (``initdb``/``pg_ctl``, as user postgres when run as root) in a temporary
directory, listening on 127.0.0.1 and a free port, with no durability (``fsync=off``).

    with postgres_server() as server:
        url = server.url(server.create())   # a new empty database
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_USER = "postgres"


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise AssertionError(f"PostgreSQL's {name} is not installed: run scripts/test-deps.sh")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    command = list(args)
    if os.geteuid() == 0:
        command = ["runuser", "-u", PG_USER, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


class PostgresServer:
    """A running server: ``url(database)`` for SQLAlchemy, ``create``/``drop`` databases."""

    def __init__(self, port: int):
        self.port = port
        self._migrated = ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create(self, template: str = "") -> str:
        """A new database (a copy of ``template`` when given); returns its name."""
        name = "t_" + uuid.uuid4().hex[:12]
        copy = f' TEMPLATE "{template}"' if template else ""
        self._admin(f'CREATE DATABASE "{name}"{copy}')
        return name

    def drop(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create_migrated(self) -> str:
        """A new database holding the newest schema and no rows, copied from a template
        migrated on the first call; returns its name."""
        if not self._migrated:
            from runner.store.db import Database

            name = self.create()
            database = Database(self.url(name))
            database.migrate()
            database.dispose()  # a template cannot be copied while anyone is connected to it
            self._migrated = name
        return self.create(template=self._migrated)


@contextmanager
def postgres_server(max_connections: int = 200) -> Iterator[PostgresServer]:
    """Start PostgreSQL; stopped (and its files removed) on leaving the block."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    root = tempfile.mkdtemp(prefix="runner-pg-")
    os.chmod(root, 0o755)
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, user=PG_USER)
    try:
        done = _as_postgres(initdb, "-D", data, "-A", "trust", "-U", PG_USER, "-E", "UTF8")
        if done.returncode != 0:
            raise AssertionError(f"initdb failed: {done.stderr or done.stdout}")
        port = _free_port()
        options = (
            f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections={max_connections}"
        )
        log = os.path.join(root, "server.log")
        done = _as_postgres(pg_ctl, "-D", data, "-o", options, "-l", log, "-w", "-t", "60", "start")
        if done.returncode != 0:
            detail = open(log).read() if os.path.exists(log) else done.stderr
            raise AssertionError(f"PostgreSQL did not start: {detail}")
        try:
            yield PostgresServer(port)
        finally:
            _as_postgres(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
