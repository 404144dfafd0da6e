"""Store fixtures: every test runs once on SQLite and once on a real PostgreSQL."""

from __future__ import annotations

import pytest

from runner.store import Cipher, Database, Stores


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """The URL of a new, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runner.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def stores(db):
    return Stores(db, cipher=Cipher.generate())


@pytest.fixture
def repo(stores):
    return stores.repos.create("acme/app", forge="github", clone_url="file:///tmp/acme.git")
