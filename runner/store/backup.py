"""Backup files: what they hold, the consistent copy of a live SQLite database, and the checks a
copy passes before it is trusted.

A backup is a tar archive of ``manifest.json`` (format, database kind, schema revision, build
count, whether the key is inside and the key's fingerprint), the database (``runner.db``, a
SQLite file, or ``database.pgdump``, ``pg_dump``'s custom format) and, unless left out, the
data directory's ``secret.key``. A plain SQLite file of this project (``sqlite3 .backup``) is
read as a backup without key.

A SQLite database in WAL mode is copied with SQLite's online backup API in one step: one read
transaction sees one committed state while the server keeps writing (readers never block the
WAL writer). A plain file copy can catch the main file and its ``-wal`` at different moments,
which is how a copy comes back "database disk image is malformed".
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from runner.errors import RunnerError
from runner.store.crypto import Cipher
from runner.store.db import MIGRATIONS, SQLITE_BUSY_SECONDS, Database

FORMAT = "pipeline-runner-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "runner.db"
PG_MEMBER = "database.pgdump"
KEY_MEMBER = "secret.key"
SQLITE_HEADER = b"SQLite format 3\x00"
# A manifest or a key larger than this is not one this program wrote.
_SMALL_MEMBER_BYTES = 64 * 1024
_SEALED_PREFIX = "enc:"  # runner.store.repos.SEALED


class NotABackup(RunnerError):
    """A file that is not a backup (or database) of this project, or a damaged one."""

    http_status = 400


class KeyMismatch(RunnerError):
    """The key at hand does not decrypt the secrets of a database."""

    http_status = 409


@dataclass(frozen=True)
class DatabaseFacts:
    """What a database holds, as a backup reports it."""

    revision: str
    builds: int
    sealed_values: int  # secrets, registry passwords and repository credentials encrypted


@dataclass(frozen=True)
class Manifest:
    """The first member of a backup archive."""

    database: str  # "sqlite" or "postgresql"
    revision: str
    builds: int
    sealed_values: int
    key_included: bool
    key_fingerprint: str
    created: str = ""

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "version": FORMAT_VERSION, **dataclasses.asdict(self)}
        return json.dumps(body, indent=2).encode()


def key_fingerprint(key: bytes) -> str:
    """A short digest that tells keys apart without revealing them."""
    return hashlib.sha256(b"pipeline-runner key fingerprint\0" + key.strip()).hexdigest()[:16]


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` (live or not) into the new file ``target`` with the
    online backup API, as one consistent state. Check the copy with ``check_sqlite``."""
    if not is_sqlite_file(source):
        raise NotABackup(f"{source} is not a SQLite database")
    src = sqlite3.connect(str(source), timeout=SQLITE_BUSY_SECONDS)
    try:
        dst = sqlite3.connect(str(target))
        try:
            # All pages in one step: a copy taken in several steps starts over whenever the
            # server writes between them, which a busy server does all the time.
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()


def is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` starts like a SQLite database."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def check_sqlite(path: Path) -> None:
    """Pass ``PRAGMA integrity_check`` and leave ``path`` in rollback-journal mode, one file
    with nothing in a ``-wal`` beside it (the server turns WAL on again when it opens it);
    ``NotABackup`` saying what is wrong otherwise."""
    if not is_sqlite_file(path):
        raise NotABackup(f"{path.name} is not a SQLite database")
    try:
        conn = sqlite3.connect(str(path))
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
            if problems != ["ok"]:
                raise NotABackup(f"the database is damaged: {'; '.join(problems)}")
            conn.execute("PRAGMA journal_mode=DELETE").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise NotABackup(f"the database cannot be read: {exc}") from None


def known_revisions() -> tuple[list[str], str]:
    """Every schema revision this version knows, oldest first, and the newest."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    ordered = [s.revision for s in script.walk_revisions()][::-1]
    return ordered, str(script.get_current_head())


def check_revision(revision: str | None) -> None:
    """``NotABackup`` unless ``revision`` is a schema revision this version can upgrade."""
    known, head = known_revisions()
    if not revision:
        raise NotABackup(
            "not a pipeline-runner database: it has no schema revision (alembic_version)"
        )
    if revision not in known:
        raise NotABackup(
            f"the database is at schema revision {revision}, which this version does not know "
            f"(it knows {known[0]} to {head}): restore it with the version that wrote it, or "
            "a newer one"
        )


def database_facts(db: Database) -> DatabaseFacts:
    """The schema revision, build count and encrypted values of ``db``; ``NotABackup`` when
    it is not a database of this project."""
    try:
        revision = db.revision()
        check_revision(revision)
        with db.session() as s:
            builds = int(s.execute(text("SELECT count(*) FROM builds")).scalar_one())
        sealed = len(_sealed_values(db))
    except NotABackup:
        raise
    except Exception as exc:  # a foreign schema: missing tables or columns
        raise NotABackup(f"not a pipeline-runner database: {_first_line(exc)}") from None
    return DatabaseFacts(str(revision), builds, sealed)


def check_key(db: Database, cipher: Cipher | None) -> int:
    """Decrypt every encrypted value of ``db`` with ``cipher``; how many there were.
    ``KeyMismatch`` when one does not decrypt, or when there are some and no key."""
    sealed = _sealed_values(db)
    if not sealed:
        return 0
    if cipher is None:
        raise KeyMismatch(
            f"the database holds {len(sealed)} encrypted values and there is no key for them"
        )
    for where, token in sealed:
        try:
            cipher.decrypt(token)
        except RunnerError:
            raise KeyMismatch(
                f"the key does not decrypt the database's secrets ({where} and maybe more)"
            ) from None
    return len(sealed)


def _sealed_values(db: Database) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    with db.session() as s:
        for name, value in s.execute(text("SELECT name, value FROM secrets")):
            found.append((f"secret {name}", bytes(value)))
        for host, password in s.execute(text("SELECT hostname, password FROM registries")):
            found.append((f"registry {host}", bytes(password)))
        rows = s.execute(text("SELECT slug, forge_token, webhook_secret FROM repos"))
        for slug, *values in rows:
            for value in values:
                if value and str(value).startswith(_SEALED_PREFIX):
                    found.append((f"repository {slug}", str(value)[4:].encode()))
    return found


def write_archive(
    target: Path, manifest: Manifest, database: Path, member: str, key: bytes | None
) -> None:
    """Write the archive ``target`` (a new file, mode 0600) of ``manifest``, the database file
    as ``member`` and ``key`` when given."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST, manifest.to_json())
            info = tar.gettarinfo(str(database), arcname=member)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o600
            with open(database, "rb") as db_file:
                tar.addfile(info, db_file)
            if key is not None:
                _add_bytes(tar, KEY_MEMBER, key)
        fh.flush()
        os.fsync(fh.fileno())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


@dataclass(frozen=True)
class OpenedBackup:
    """A backup read back: its manifest, the database extracted to ``database`` and the key
    when it was inside."""

    manifest: Manifest
    database: Path
    key: bytes | None


def read_backup(source: Path, work_dir: Path) -> OpenedBackup:
    """Read the backup ``source`` (an archive of this project, or a plain SQLite file),
    extracting its database into ``work_dir``; ``NotABackup`` saying why it is not one."""
    if is_sqlite_file(source):
        copy = work_dir / SQLITE_MEMBER
        copy_sqlite(source, copy)
        manifest = Manifest("sqlite", "", 0, 0, False, "")
        return OpenedBackup(manifest, copy, None)
    try:
        tar = tarfile.open(source, mode="r:*")
    except (tarfile.TarError, OSError) as exc:
        raise NotABackup(
            f"{source} is not a pipeline-runner backup (neither a backup archive nor a SQLite "
            f"database): {exc}"
        ) from None
    with tar:
        manifest = _read_manifest(tar, source)
        member = SQLITE_MEMBER if manifest.database == "sqlite" else PG_MEMBER
        database = work_dir / member
        _extract(tar, member, database, source)
        key = _small_member(tar, KEY_MEMBER) if manifest.key_included else None
        if manifest.key_included and key is None:
            raise NotABackup(f"{source} says it holds the key, but has no {KEY_MEMBER}")
    return OpenedBackup(manifest, database, key)


def _read_manifest(tar: tarfile.TarFile, source: Path) -> Manifest:
    raw = _small_member(tar, MANIFEST)
    try:
        body: Any = json.loads(raw or b"")
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise NotABackup(f"{source} is not a pipeline-runner backup (no {MANIFEST} of ours)")
    if body.get("version") != FORMAT_VERSION:
        raise NotABackup(
            f"{source} is a backup of format version {body.get('version')!r}; this version "
            f"reads version {FORMAT_VERSION}"
        )
    try:
        manifest = Manifest(
            database=str(body["database"]),
            revision=str(body["revision"]),
            builds=int(body["builds"]),
            sealed_values=int(body["sealed_values"]),
            key_included=bool(body["key_included"]),
            key_fingerprint=str(body["key_fingerprint"]),
            created=str(body.get("created", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NotABackup(f"{source} has a damaged {MANIFEST}: {exc}") from None
    if manifest.database not in ("sqlite", "postgresql"):
        raise NotABackup(f"{source} holds a database of unknown kind {manifest.database!r}")
    return manifest


def _small_member(tar: tarfile.TarFile, name: str) -> bytes | None:
    try:
        info = tar.getmember(name)
    except KeyError:
        return None
    if not info.isfile() or info.size > _SMALL_MEMBER_BYTES:
        return None
    fh = tar.extractfile(info)
    return fh.read() if fh is not None else None


def _extract(tar: tarfile.TarFile, name: str, target: Path, source: Path) -> None:
    """Copy one regular member into the new file ``target`` (0600); nothing else of the
    archive reaches the disk, so no name inside it can point outside ``work_dir``."""
    try:
        info = tar.getmember(name)
    except KeyError:
        raise NotABackup(f"{source} has no {name}") from None
    fh = tar.extractfile(info) if info.isfile() else None
    if fh is None:
        raise NotABackup(f"{source}: {name} is not a regular file")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(fh, out, 1024 * 1024)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
