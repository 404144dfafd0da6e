"""Restore of a backup into a data directory whose server is stopped (``runner db restore``).

Refused, with nothing changed: while a server runs on the data directory (its lock file,
``runner.data_lock``; on PostgreSQL also while other sessions are connected to the database);
a file that is not a backup of this project or whose schema this version does not know; a
backup of the other database kind; a target database that exists, unless ``force``; and a key
that does not decrypt the backup's secrets. An older schema is upgraded to this version's with
the usual migrations.

On SQLite the database is extracted, checked, upgraded and key-checked under a temporary name
beside the target and renamed into place last, so a refused or failed restore leaves the old
database as it was. On PostgreSQL ``pg_restore`` runs in one transaction; the key is checked
against the backup's fingerprint before, and against the secrets only after the restore has
replaced the database (a backup without a fingerprint, or taken while its server's key did not
match, may then be refused with the database already replaced: restore it again with the right
key). A database at a newer schema than the backup's is refused: restore into an empty one.

Which key the restored server uses: the ``secret_key`` setting when given; else the backup's
key, written to ``<data_dir>/secret.key`` (a different key found there is kept as
``secret.key.replaced-<time>``); else the key file already in the data directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from runner.data_lock import DataDirBusy, restore_lock
from runner.errors import BadRequest, Conflict, NotFound
from runner.private_files import private_dir, private_file
from runner.services.backups import (
    ServerKey,
    database_kind,
    key_from_text,
    server_key,
    sqlite_path,
)
from runner.settings import Settings
from runner.store import pg_backup
from runner.store.backup import (
    DatabaseFacts,
    KeyMismatch,
    OpenedBackup,
    check_key,
    check_revision,
    check_sqlite,
    database_facts,
    read_backup,
)
from runner.store.crypto import KEY_FILE
from runner.store.db import Database

# How long restore waits for other sessions on a PostgreSQL database to end before refusing.
SESSIONS_GRACE_SECONDS = 10


@dataclass(frozen=True)
class RestoreReport:
    """What ``restore`` did."""

    database: str
    from_revision: str
    facts: DatabaseFacts  # after the upgrade
    key_note: str


def restore(settings: Settings, source: Path, *, force: bool = False) -> RestoreReport:
    """Restore the backup ``source`` into the settings' data directory and database."""
    source = source.expanduser()
    if not source.is_file():
        raise NotFound(f"no file {source}")
    kind = database_kind(settings)
    if kind == "postgresql" and not pg_backup.have_tools():
        raise pg_backup.ToolMissing(pg_backup.RECIPE)
    data_dir = private_dir(settings.data_path)
    work_parent = sqlite_path(settings).parent if kind == "sqlite" else data_dir
    work_parent.mkdir(parents=True, exist_ok=True)
    with restore_lock(data_dir):
        work = Path(tempfile.mkdtemp(prefix=".restore-", dir=work_parent))
        try:
            opened = read_backup(source, work)
            if opened.manifest.database != kind:
                raise BadRequest(
                    f"{source} holds a {opened.manifest.database} database and this server's "
                    f"database is {kind}: restore it with a database URL of that kind"
                )
            key, key_note = _pick_key(settings, opened)
            if kind == "sqlite":
                before, facts = _restore_sqlite(settings, opened, key, force)
            else:
                before, facts = _restore_postgres(settings, opened, key, force)
            if opened.key and not key.from_setting:
                _write_key(data_dir, opened.key)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return RestoreReport(kind, before, facts, key_note)


def _pick_key(settings: Settings, opened: OpenedBackup) -> tuple[ServerKey, str]:
    """The key the restored server will use and where it comes from; ``KeyMismatch`` early
    when the backup's fingerprint says it is not the one its secrets were written with."""
    manifest = opened.manifest
    present = server_key(settings)
    if present.from_setting:
        key, note = present, "the key of the secret_key setting (RUNNER_SECRET_KEY)"
    elif opened.key is not None:
        key = ServerKey(key_from_text(opened.key), False)
        note = f"the backup's key, written to {settings.data_path / KEY_FILE}"
    elif present.key is not None:
        key, note = present, f"{settings.data_path / KEY_FILE}"
    else:
        key, note = present, "no key (the server makes one at its first start)"
    expected = manifest.key_fingerprint
    if manifest.sealed_values and expected and key.fingerprint != expected:
        where = "none" if key.key is None else f"{note} (fingerprint {key.fingerprint})"
        raise KeyMismatch(
            f"the backup's {manifest.sealed_values} encrypted values were written with the key "
            f"of fingerprint {expected}, and the key at hand is {where}: put the secret.key "
            f"they were written with in {settings.data_path} (or set RUNNER_SECRET_KEY to it) "
            "and restore again"
        )
    return key, note


def _restore_sqlite(
    settings: Settings, opened: OpenedBackup, key: ServerKey, force: bool
) -> tuple[str, DatabaseFacts]:
    target = sqlite_path(settings)
    if target.exists() and not force:
        raise Conflict(f"{target} exists: give --force to replace it with the backup")
    copy = opened.database
    check_sqlite(copy)
    db = Database(f"sqlite:///{copy}")
    try:
        before = db.revision()
        check_revision(before)  # a foreign database is refused before anything is written to it
        db.migrate()
        facts = database_facts(db)
        _check_key_of(db, key, settings)
    finally:
        db.dispose()
    check_sqlite(copy)
    # A -wal left by a server killed on the old database would be replayed into the new one.
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(copy, target)
    private_file(target)
    return str(before), facts


def _restore_postgres(
    settings: Settings, opened: OpenedBackup, key: ServerKey, force: bool
) -> tuple[str, DatabaseFacts]:
    check_revision(opened.manifest.revision)
    tables = pg_backup.dump_tables(opened.database)
    if not {"alembic_version", "builds", "secrets"} <= tables:
        raise BadRequest(f"the backup's dump is not of a pipeline-runner database: {tables}")
    url = settings.effective_database_url()
    db = Database(url)
    try:
        others = _other_sessions_after_grace(db)
        if others:
            raise DataDirBusy(
                f"{others} other sessions are connected to the database: stop every server "
                "that uses it before restoring"
            )
        if pg_backup.has_schema(db) and not force:
            raise Conflict("the database holds tables already: give --force to replace them")
        target = db.revision()
        if force and target is not None and target > opened.manifest.revision:
            # pg_restore --clean drops only what the dump holds: the newer tables would stay.
            raise Conflict(
                f"the database is at schema {target}, newer than the backup's "
                f"{opened.manifest.revision}: restore into an empty database"
            )
    finally:
        db.dispose()
    pg_backup.restore(url, opened.database)
    db = Database(url)
    try:
        db.migrate()
        facts = database_facts(db)
        _check_key_of(db, key, settings)
    finally:
        db.dispose()
    return opened.manifest.revision, facts


def _other_sessions_after_grace(db: Database) -> int:
    """Other sessions on ``db``'s database, once those of a server stopped a moment ago had
    the time to end (PostgreSQL ends a backend shortly after its client has gone)."""
    deadline = time.monotonic() + SESSIONS_GRACE_SECONDS
    while True:
        others = pg_backup.other_sessions(db)
        if not others or time.monotonic() >= deadline:
            return others
        time.sleep(0.2)


def _check_key_of(db: Database, key: ServerKey, settings: Settings) -> None:
    try:
        check_key(db, key.cipher())
    except KeyMismatch as exc:
        raise KeyMismatch(
            f"{exc}: put the secret.key they were written with in {settings.data_path} (or set "
            "RUNNER_SECRET_KEY to it) and restore again"
        ) from None


def _write_key(data_dir: Path, key: bytes) -> None:
    """Make ``key`` the data directory's key file (0600), keeping a different one aside."""
    path = data_dir / KEY_FILE
    if path.is_file():
        if key_from_text(path.read_bytes()) == key_from_text(key):
            return
        # Never over an earlier one: each key set aside may be the one other backups need.
        os.replace(path, data_dir / f"{KEY_FILE}.replaced-{time.strftime('%Y%m%dT%H%M%S')}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
