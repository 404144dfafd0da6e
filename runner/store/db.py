"""The database handle: engine, sessions and migrations for SQLite and PostgreSQL.

``Database(url)`` is shared by every thread of the process. SQLite runs in WAL mode with a busy
timeout, so readers never wait for the writer and writers queue instead of failing; PostgreSQL is
reached through ``postgresql+psycopg://``.

A SQLite database file is created readable by its owner only (0600), and made so on every start
if it was not: it holds password hashes, token hashes and encrypted secrets. SQLite gives its
``-wal`` and ``-shm`` files the database file's mode.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Executable, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, Row, make_url
from sqlalchemy.orm import Session, sessionmaker

from runner.errors import RunnerError
from runner.private_files import private_file

MIGRATIONS = Path(__file__).parent / "migrations"
# Seconds a SQLite writer waits for the write lock before giving up.
SQLITE_BUSY_SECONDS = 30
# A write to one of these tables changes what a build's page shows (``Database.on_state_commit``).
_STATE_WRITE = re.compile(
    r'\s*(?:(?:INSERT\s+INTO|DELETE\s+FROM)\s+"?(?:builds|stages|steps)\b'
    # Log bytes counted on a step and a stage's lease renewed change nothing a page shows.
    r'|UPDATE\s+"?builds\b|UPDATE\s+"?stages"?\s+SET\s+"?(?!lease_until)'
    r'|UPDATE\s+"?steps"?\s+SET\s+"?(?!log_))',
    re.I,
)
# PostgreSQL advisory lock key held while migrating (any constant unique to this program).
_MIGRATE_LOCK = 0x52554E4E4552


class Database:
    """One database: a thread-safe connection pool and a session factory.

    ``session()`` opens a read transaction; ``write()`` opens one that will write (on SQLite it
    takes the write lock at ``BEGIN`` so a transaction never fails half-way on a stale snapshot).
    Both commit on leaving the block and roll back on an exception. Call ``migrate()`` once at
    start, before any store is used.
    """

    def __init__(self, url: str, *, echo: bool = False):
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(url, echo)
        elif self.dialect == "postgresql":
            self.engine = create_engine(
                url, echo=echo, pool_size=10, max_overflow=30, pool_pre_ping=True
            )
        else:
            raise RunnerError(
                f"unsupported database URL {self.url.render_as_string()!r}: use sqlite:///PATH "
                "or postgresql+psycopg://USER:PASSWORD@HOST/NAME"
            )
        self._writer = self.engine.execution_options(runner_write=True)
        # One statement needs no transaction around it: on SQLite it is consistent by itself,
        # and BEGIN and COMMIT are two more trips into the library (each lets go of the GIL,
        # which busy threads then fight over). PostgreSQL reads keep their transaction.
        self._single = (
            self.engine.execution_options(runner_single=True)
            if self.dialect == "sqlite"
            else self.engine
        )
        self._read_sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(bind=self._writer, expire_on_commit=False)
        self._state_listeners: list[Callable[[], None]] = []
        _watch_state_writes(self.engine, self._state_listeners)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction for reading; use ``write()`` for anything that writes."""
        with self._read_sessions.begin() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in a transaction that writes; committed at the end of the block."""
        with self._write_sessions.begin() as session:
            yield session

    def first(self, statement: Executable, params: dict[str, Any] | None = None) -> Row[Any] | None:
        """The first row of one read statement (None when there is none); on SQLite it runs
        without BEGIN/COMMIT around it."""
        with self._single.connect() as connection:
            return connection.execute(statement, params or {}).first()

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A Core connection in a read transaction, for hot paths that skip the ORM (a
        session's bookkeeping costs more than the query behind a lookup by key)."""
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A Core connection in a write transaction, for hot paths that skip the ORM."""
        with self._writer.begin() as connection:
            yield connection

    def on_state_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every commit that wrote builds, stages or steps, whoever
        wrote them (RPC, actions, scheduler), on the committing thread: it must be quick and
        must not raise (the live change watcher only sets a flag)."""
        self._state_listeners.append(listener)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (creates it on an empty database).

        A database already at the newest revision (every start but the first after an
        upgrade) is left alone without loading Alembic, whose modules would stay in the
        server's memory for nothing (about 10 MB).
        """
        if self.revision() == head_revision():
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._writer.begin() as connection:
            if self.is_postgres:
                # Two processes starting at once (server and a CLI command) migrate in turn;
                # SQLite's BEGIN IMMEDIATE does the same there.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The Alembic revision the database is at, or None before the first migration."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        if len(found) > 1:
            raise RunnerError(f"the database is at several revisions: {[r[0] for r in found]}")
        return found[0][0] if found else None

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown, or in tests between databases)."""
        self.engine.dispose()


def head_revision() -> str:
    """The newest migration's revision, read from the migration files without Alembic (the
    revision no migration names as its ``down_revision``)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        for name, found in re.findall(
            r'^(revision|down_revision)\s*(?::[^=]+)?=\s*["\']([^"\']+)["\']', source, re.M
        ):
            (revisions if name == "revision" else parents).add(found)
    heads = revisions - parents
    if len(heads) != 1:
        raise RunnerError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def _watch_state_writes(engine: Engine, listeners: list[Callable[[], None]]) -> None:
    """Mark a connection that wrote a build, stage or step, and tell ``listeners`` once its
    transaction commits (a rollback forgets the mark)."""

    @event.listens_for(engine, "after_cursor_execute")
    def _after_execute(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if listeners and _STATE_WRITE.match(statement):
            conn.info["runner_state_write"] = True

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Connection) -> None:
        if conn.info.pop("runner_state_write", False):
            for listener in listeners:
                listener()

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Connection) -> None:
        conn.info.pop("runner_state_write", None)


def _sqlite_engine(url: str, echo: bool) -> Engine:
    database = make_url(url).database or ""
    if database in ("", ":memory:"):
        raise RunnerError(
            "an in-memory SQLite database cannot be shared between threads: "
            "give a file path, e.g. sqlite:////var/lib/runner/runner.db"
        )
    os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        if not suffix or os.path.exists(database + suffix):
            private_file(database + suffix)
    engine = create_engine(
        url,
        echo=echo,
        pool_size=16,
        max_overflow=48,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun by the "begin" hook below, not by the sqlite3 module, so that
        # writers can ask for BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("runner_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get("runner_single"):
            connection.exec_driver_sql("BEGIN")

    return engine
