"""PostgreSQL backups through PostgreSQL's own tools: ``pg_dump`` (custom format) and
``pg_restore``, found on PATH; nothing of them is reimplemented here.

Connection details go to the tools as arguments and the password through ``PGPASSWORD``, so it
never shows in the process list. Without the tools, ``RECIPE`` says how to do it by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from runner.errors import RunnerError
from runner.store.db import Database

RECIPE = """\
pg_dump and pg_restore are not on PATH. Install PostgreSQL's client tools (the same major
version as the server, or newer), or back up by hand:

  pg_dump --format=custom --file=runner.pgdump "postgresql://USER@HOST:PORT/NAME"
  cp DATA_DIR/secret.key runner.secret.key        # unless RUNNER_SECRET_KEY holds the key

and restore with the server stopped:

  pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error \\
      --dbname="postgresql://USER@HOST:PORT/NAME" runner.pgdump
  cp runner.secret.key DATA_DIR/secret.key
  runner server   # upgrades an older schema on start

(docs/server.md, "Backups")"""

# Seconds one pg_dump or pg_restore may take before it is given up.
TOOL_TIMEOUT = 6 * 3600


class ToolMissing(RunnerError):
    """``pg_dump`` or ``pg_restore`` is not installed; the message is the recipe."""


def have_tools() -> bool:
    """Whether both ``pg_dump`` and ``pg_restore`` are on PATH."""
    return bool(shutil.which("pg_dump") and shutil.which("pg_restore"))


def dump(url: str, target: Path) -> None:
    """``pg_dump`` the database of ``url`` in custom format into the new file ``target``."""
    args, env = _connection(url)
    _run(["pg_dump", "--format=custom", f"--file={target}", *args], env, "pg_dump")


def restore(url: str, dump_file: Path) -> None:
    """``pg_restore`` ``dump_file`` into the database of ``url``, replacing what the dump
    holds, in one transaction (a failure leaves the database as it was)."""
    args, env = _connection(url)
    command = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges"]
    command += ["--single-transaction", "--exit-on-error", *args, str(dump_file)]
    _run(command, env, "pg_restore")


def dump_tables(dump_file: Path) -> set[str]:
    """The tables a custom-format dump creates (``pg_restore --list``)."""
    out = _run(["pg_restore", "--list", str(dump_file)], dict(os.environ), "pg_restore")
    tables = set()
    for line in out.splitlines():
        parts = line.split()
        # "215; 1259 16390 TABLE public builds postgres"
        if len(parts) >= 6 and parts[3] == "TABLE" and not line.startswith(";"):
            tables.add(parts[5])
    return tables


def other_sessions(db: Database) -> int:
    """How many sessions other than this one are connected to ``db``'s database."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )
    with db.session() as s:
        return int(s.execute(query).scalar_one())


def has_schema(db: Database) -> bool:
    """Whether ``db`` already holds this project's tables."""
    query = text("SELECT to_regclass('alembic_version') IS NOT NULL")
    with db.session() as s:
        return bool(s.execute(query).scalar_one())


def _connection(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq's form of ``url`` without its password (options such as ``sslmode`` kept), and an
    environment carrying the password."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    conninfo = URL.create(
        "postgresql", parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query
    )
    return [f"--dbname={conninfo.render_as_string(hide_password=False)}", "--no-password"], env


def _run(command: list[str], env: dict[str, str], tool: str) -> str:
    if shutil.which(command[0]) is None:
        raise ToolMissing(RECIPE)
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise RunnerError(f"{tool} failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout
