"""Databases as an older server left them, for the tests of a migration that converts stored
rows: one step made at the head, the schema taken back to an older revision, rows written as
that revision's server wrote them, then the database migrated to the head again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from runner.settings import Settings
from runner.store import Database, Stores
from runner.store.db import MIGRATIONS, head_revision
from runner.testing import CHEAP_PASSWORD_HASH

from .helpers import make_build

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration for the project's migrations, run on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def downgrade(url: str, revision: str) -> None:
    """Take the database at ``url`` back to ``revision``."""
    database = Database(url)
    try:
        with database.engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision)
    finally:
        database.dispose()


def database_url(kind: str, request: pytest.FixtureRequest, tmp_path) -> str:
    """A new database of ``kind`` ("sqlite" or "postgres")."""
    if kind == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'old.db'}"


def step_at_revision(url: str, revision: str) -> int:
    """Migrate the database at ``url``, make a build, take it back to ``revision``: the id of
    one of the build's steps, for rows written as that revision's server wrote them."""
    database = Database(url)
    try:
        database.migrate()
        stores = Stores(database, Settings(password_hash_method=CHEAP_PASSWORD_HASH))
        repo = stores.repos.create("acme/old", forge="github", clone_url="file:///tmp/old.git")
        step = stores.builds.create(make_build(repo.id)).stages[0].steps[1].id
    finally:
        database.dispose()
    downgrade(url, revision)
    return step


@contextmanager
def upgraded(url: str) -> Iterator[tuple[Database, Stores]]:
    """The database at ``url`` migrated to the head, and its stores."""
    database = Database(url)
    try:
        database.migrate()
        assert database.revision() == head_revision()
        yield database, Stores(database, Settings(password_hash_method=CHEAP_PASSWORD_HASH))
    finally:
        database.dispose()
