"""What the processes of one test session share, for :mod:`runner.testing` and the suite.

- :func:`session_id`: the id of the session, made by the first process that asks and handed to
  every worker and subprocess through ``RUNNER_TEST_SESSION``, so the Docker resources of one
  session (``pipeline-runner.test=<id>``, :func:`session_label`) can be told from another's
  that runs on the same engine at the same time.
- :func:`migrated_sqlite`: a copy of an SQLite database migrated to the newest revision, in
  place of migrating an empty one in every test. The template is migrated once per process.
- :data:`CHEAP_PASSWORD_HASH` and :func:`app_settings`: settings of an in-process application
  whose passwords cost nothing to hash.

Nothing in the server or agent imports this.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from runner.settings import Settings, load_settings

TEST_LABEL = "pipeline-runner.test"
"""The label the test suite puts on every container, volume and network, and removes at the end."""

SESSION_ENV = "RUNNER_TEST_SESSION"
"""The environment variable carrying :func:`session_id` to workers and subprocesses."""

CHEAP_PASSWORD_HASH = "pbkdf2:sha256:1"
"""A password hash method that costs nothing: for test servers only, never for a real one
(``RUNNER_PASSWORD_HASH_METHOD``; a server's default is scrypt)."""

_template_lock = threading.Lock()
_template: Path | None = None


def session_id() -> str:
    """The id of this test session: ``RUNNER_TEST_SESSION``, set to a new one if unset (so the
    processes started afterwards share it)."""
    value = os.environ.get(SESSION_ENV, "")
    if not value:
        value = uuid.uuid4().hex[:12]
        os.environ[SESSION_ENV] = value
    return value


def session_label() -> str:
    """``pipeline-runner.test=<session id>``, the label (``key=value``) of this session's Docker
    resources; the end-of-session sweep removes those and no others."""
    return f"{TEST_LABEL}={session_id()}"


def migrated_sqlite(path: Path) -> str:
    """Put a copy of a freshly migrated, empty SQLite database at ``path`` (which must not
    exist); its ``sqlite:///`` URL. The first call of a process migrates the template."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(_template_file(), "rb") as src, open(path, "xb") as dst:
        shutil.copyfileobj(src, dst)
    os.chmod(path, 0o600)
    return f"sqlite:///{path}"


def _template_file() -> Path:
    global _template
    with _template_lock:
        if _template is None:
            from runner.store.db import Database

            folder = Path(tempfile.mkdtemp(prefix="runner-template-"))
            atexit.register(shutil.rmtree, folder, True)
            database = Database(f"sqlite:///{folder / 'runner.db'}")
            database.migrate()
            # Closing the last connection checkpoints the WAL into the file: one file to copy.
            database.dispose()
            _template = folder / "runner.db"
        return _template


def app_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of an in-process application over ``data_dir`` (no environment read): its
    SQLite database a copy of the migrated template (unless ``database_url`` is given or a
    database is there already), passwords hashed by :data:`CHEAP_PASSWORD_HASH`, then
    ``overrides``."""
    if not overrides.get("database_url") and not (data_dir / "runner.db").exists():
        migrated_sqlite(data_dir / "runner.db")
    values: dict[str, Any] = {
        "data_dir": str(data_dir),
        "password_hash_method": CHEAP_PASSWORD_HASH,
        **overrides,
    }
    return load_settings(values, environ={})
