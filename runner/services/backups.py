"""Backups of a server's database and key (``runner db backup``), run on the server's machine
while the server runs.

The backup file is written beside its destination under a temporary name, checked, and only
then renamed to the name asked for, so a half-written backup never carries that name. An
existing file is replaced only when asked (``force``). The format is in
``runner.store.backup``; restoring is ``runner.services.restore``.

The key: when the server's key is the data directory's ``secret.key`` (the default), the backup
carries it, so a backup is all it takes to come back; ``include_key=False`` leaves it out (for
backups kept where the key must not go, then kept apart). A key given by the ``secret_key``
setting (``RUNNER_SECRET_KEY``) is never written into a backup: whoever set it keeps it. Either
way the backup records the key's fingerprint, and restore checks the key against it and
against the secrets themselves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from runner.errors import BadRequest, Conflict, NotFound
from runner.settings import Settings
from runner.store import pg_backup
from runner.store.backup import (
    PG_MEMBER,
    SQLITE_MEMBER,
    DatabaseFacts,
    KeyMismatch,
    Manifest,
    check_key,
    check_sqlite,
    copy_sqlite,
    database_facts,
    key_fingerprint,
    write_archive,
)
from runner.store.crypto import KEY_FILE, Cipher, load_key
from runner.store.db import Database


@dataclass(frozen=True)
class BackupReport:
    """What ``backup`` wrote."""

    path: Path
    size: int
    database: str  # "sqlite" or "postgresql"
    facts: DatabaseFacts
    key_included: bool
    key_note: str  # where the key is, in words


@dataclass(frozen=True)
class ServerKey:
    """The key a server on these settings uses, and where it comes from."""

    key: bytes | None  # None: no key yet (made at the server's first start)
    from_setting: bool

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key) if self.key else ""

    def cipher(self) -> Cipher | None:
        return Cipher(self.key) if self.key else None


def database_kind(settings: Settings) -> str:
    """``sqlite`` or ``postgresql``, for the settings' database URL."""
    return make_url(settings.effective_database_url()).get_backend_name()


def sqlite_path(settings: Settings) -> Path:
    """The file of the settings' SQLite database."""
    return Path(make_url(settings.effective_database_url()).database or "").expanduser()


def server_key(settings: Settings) -> ServerKey:
    """The key of ``settings`` without making one: the setting, else the key file if any."""
    if settings.secret_key:
        return ServerKey(load_key(settings.secret_key, settings.data_path), True)
    path = settings.data_path / KEY_FILE
    if not path.is_file():
        return ServerKey(None, False)
    return ServerKey(key_from_text(path.read_bytes()), False)


def key_from_text(raw: bytes) -> bytes | None:
    """The Fernet key a key file's content stands for (None when it is empty)."""
    text = raw.decode("ascii", "replace").strip()
    # A text given to load_key never makes it look for (or create) a key file.
    return load_key(text, "") if text else None


def backup(
    settings: Settings, target: Path, *, force: bool = False, include_key: bool = True
) -> BackupReport:
    """Write a backup of the settings' database (and key) to ``target``; what was written.

    ``Conflict`` when ``target`` exists and ``force`` is not given; ``NotFound`` when there is
    no database yet; ``pg_backup.ToolMissing`` (the recipe) without PostgreSQL's tools.
    """
    target = Path(os.path.abspath(target.expanduser()))
    if target.is_dir():
        raise BadRequest(f"{target} is a directory: give the backup file's name")
    if target.exists() and not force:
        raise Conflict(f"{target} exists: give --force to replace it")
    if not target.parent.is_dir():
        raise NotFound(f"no directory {target.parent} to write the backup in")
    kind = database_kind(settings)
    key = server_key(settings)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        copy = _copy_sqlite if kind == "sqlite" else _dump_postgres
        database, facts, key_problem = copy(settings, work, key)
        included = include_key and key.key is not None and not key.from_setting
        manifest = Manifest(
            database=kind,
            revision=facts.revision,
            builds=facts.builds,
            sealed_values=facts.sealed_values,
            key_included=included,
            key_fingerprint=key.fingerprint,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        archive = work / "backup.tar"
        write_archive(archive, manifest, database, database.name, key.key if included else None)
        _place(archive, target, force)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    note = _key_note(settings, key, included) + key_problem
    return BackupReport(target, target.stat().st_size, kind, facts, included, note)


def _copy_sqlite(settings: Settings, work: Path, key: ServerKey) -> tuple[Path, DatabaseFacts, str]:
    source = sqlite_path(settings)
    if not source.is_file():
        raise NotFound(f"no database at {source}: nothing to back up")
    copy = work / SQLITE_MEMBER
    copy_sqlite(source, copy)
    db = Database(f"sqlite:///{copy}")
    try:
        facts = database_facts(db)
        problem = _key_problem(db, key)
    finally:
        db.dispose()
    check_sqlite(copy)  # integrity, and one file again after being opened in WAL mode
    return copy, facts, problem


def _dump_postgres(
    settings: Settings, work: Path, key: ServerKey
) -> tuple[Path, DatabaseFacts, str]:
    if not pg_backup.have_tools():
        raise pg_backup.ToolMissing(pg_backup.RECIPE)
    db = Database(settings.effective_database_url())
    try:
        facts = database_facts(db)  # counted just before the dump
        problem = _key_problem(db, key)
    finally:
        db.dispose()
    dump = work / PG_MEMBER
    pg_backup.dump(settings.effective_database_url(), dump)
    return dump, facts, problem


def _key_problem(db: Database, key: ServerKey) -> str:
    """An empty string when the key decrypts every encrypted value of ``db``; else a warning
    (the backup is still made: it is all there is of this database)."""
    try:
        check_key(db, key.cipher())
    except KeyMismatch as exc:
        return f"; WARNING: {exc}"
    return ""


def _key_note(settings: Settings, key: ServerKey, included: bool) -> str:
    if included:
        return f"key included ({KEY_FILE} of {settings.data_path})"
    if key.from_setting:
        return (
            "key NOT included: it is the secret_key setting (RUNNER_SECRET_KEY); keep it to restore"
        )
    if key.key is None:
        return "no key yet (the server makes one at its first start)"
    return f"key NOT included: keep {settings.data_path / KEY_FILE} to restore"


def _place(made: Path, target: Path, force: bool) -> None:
    """Give ``made`` the name ``target``; without ``force`` never over an existing file, even
    one that appeared meanwhile."""
    if force:
        os.replace(made, target)
        return
    try:
        os.link(made, target)
    except FileExistsError:
        raise Conflict(f"{target} exists: give --force to replace it") from None
    except OSError:
        # A file system without hard links: the check and the rename are two steps there.
        if target.exists():
            raise Conflict(f"{target} exists: give --force to replace it") from None
        os.replace(made, target)
