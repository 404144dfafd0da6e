"""Store fixtures: every test runs once on SQLite and once on a real PostgreSQL, each on a
database migrated before the test (tests/store/test_schema.py migrates empty ones itself)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from runner.settings import Settings
from runner.store import Cipher, Database, Stores
from runner.store.models import Base
from runner.testing import CHEAP_PASSWORD_HASH, migrated_sqlite


@pytest.fixture(scope="session")
def postgres_shared(postgres_server):
    """One migrated PostgreSQL database for the store tests, emptied after each test."""
    name = postgres_server.create()
    url = postgres_server.url(name)
    database = Database(url)
    database.migrate()
    database.dispose()
    return url


def _empty(url: str) -> None:
    database = Database(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.write() as s:
        s.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """The URL of an empty database of each kind, at the newest schema already (SQLite: a copy
    of the session's migrated template; PostgreSQL: one database emptied after each test)."""
    if request.param == "sqlite":
        yield migrated_sqlite(tmp_path / "runner.db")
        return
    url = request.getfixturevalue("postgres_shared")
    yield url
    _empty(url)


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def stores(db):
    """Every store over ``db``, hashing passwords cheaply (test_password_hashes.py tests the
    default method)."""
    settings = Settings(password_hash_method=CHEAP_PASSWORD_HASH)
    return Stores(db, settings, cipher=Cipher.generate())


@pytest.fixture
def repo(stores):
    return stores.repos.create("acme/app", forge="github", clone_url="file:///tmp/acme.git")
