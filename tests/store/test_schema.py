"""Migrations create exactly the schema of the models, on SQLite and PostgreSQL, idempotently."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from runner.errors import RunnerError
from runner.store import Database
from runner.store.models import Base


def test_migrate_creates_every_table(db):
    tables = set(inspect(db.engine).get_table_names())
    for name in (
        "users",
        "tokens",
        "repos",
        "permissions",
        "builds",
        "stages",
        "steps",
        "log_chunks",
        "secrets",
        "crons",
        "agents",
        "environments",
        "hook_deliveries",
        "build_events",
        "approvals",
    ):
        assert name in tables
    assert db.revision() is not None


@pytest.mark.postgres
def test_migrate_builds_an_empty_postgres_database(postgres_url):
    fresh = Database(postgres_url)
    assert fresh.revision() is None
    fresh.migrate()
    assert "log_chunks" in inspect(fresh.engine).get_table_names()
    with fresh.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    fresh.dispose()


def test_migrated_schema_matches_models(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrate_twice_is_harmless(db, database_url):
    again = Database(database_url)
    again.migrate()
    assert again.revision() == db.revision()
    again.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    database.migrate()
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    database.dispose()


def test_unusable_urls_are_refused_with_advice():
    with pytest.raises(RunnerError, match="file path"):
        Database("sqlite://")
    with pytest.raises(RunnerError, match="postgresql"):
        Database("mysql://u@localhost/runner")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_processes_starting_together_migrate_in_turn(kind, request, tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    if kind == "postgres":
        url = request.getfixturevalue("postgres_url")
    errors: list[BaseException] = []

    def start():
        database = Database(url)
        try:
            database.migrate()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            database.dispose()

    pool = [threading.Thread(target=start) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    assert errors == []
    migrated = Database(url)
    assert migrated.revision() is not None
    migrated.dispose()


def test_the_head_read_from_the_migration_files_is_alembics():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from runner.store.db import MIGRATIONS, head_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_a_database_at_the_head_starts_without_loading_alembic(tmp_path):
    # A server restarted on its database must not carry Alembic's modules for nothing; a
    # database behind the head is still migrated (by Alembic) in the same call.
    url = f"sqlite:///{tmp_path / 'runner.db'}"
    script = (
        "import sys\n"
        "from runner.store import Database\n"
        f"db = Database({url!r})\n"
        "db.migrate()\n"
        "print(db.revision(), 'alembic' in sys.modules)\n"
    )
    from runner.store.db import head_revision

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
        )
        return done.stdout.split()

    assert run() == [head_revision(), "True"], "an empty database is migrated by Alembic"
    assert run() == [head_revision(), "False"], "a database at the head is left alone"
