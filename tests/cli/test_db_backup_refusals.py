"""What `runner db backup` and `runner db restore` refuse, each leaving files as they were: a
backup over an existing file without --force; a restore while a server runs on the data
directory, of a file that is not a backup of this project, over an existing database without
--force, or with a key that does not decrypt the backup's secrets. And what restore does beyond
copying: an older schema is upgraded to this version's, the key file comes back readable by its
owner only, and a plain SQLite file of this project is read as a backup without key. On
PostgreSQL without pg_dump, both commands print the manual recipe and fail."""

from __future__ import annotations

import io
import os
import sqlite3
import tarfile
from pathlib import Path

import pytest

from runner.store.backup import known_revisions
from runner.store.db import MIGRATIONS, Database
from runner.testing import ServerProcess
from tests.cli.db_helpers import passed, refused

SLUG = "acme/vault"


def into(env: dict[str, str], data_dir: Path, **more: str) -> dict[str, str]:
    """``env`` aimed at another data directory."""
    return {**env, "RUNNER_DATA_DIR": str(data_dir), **more}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A running server (no agent) with a repository (its webhook secret is encrypted too)
    and a secret."""
    proc = ServerProcess(tmp_path_factory.mktemp("vault") / "data", embedded_agent=False)
    with proc:
        token = proc.token()
        body = {"slug": SLUG, "clone_url": "file:///srv/vault.git"}
        assert proc.api("POST", "/repos", token, json=body).status_code == 201
        secret = {"name": "password", "value": "s3cret-value"}
        assert proc.api("POST", f"/repos/{SLUG}/secrets", token, json=secret).ok
        yield proc


@pytest.fixture(scope="module")
def backup(server, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("backups") / "vault.tar"
    out = passed(server.env, "db", "backup", str(path))
    assert "2 encrypted values; key included" in out, out
    return path


def test_backup_refuses_to_overwrite_a_file_without_force(server, tmp_path):
    existing = tmp_path / "existing.tar"
    existing.write_text("keep me")
    assert "exists: give --force" in refused(server.env, "db", "backup", str(existing))
    assert existing.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["existing.tar"]  # no temporary left
    assert "wrote" in passed(server.env, "db", "backup", "--force", str(existing))
    with tarfile.open(existing) as tar:
        assert tar.getnames() == ["manifest.json", "runner.db", "secret.key"]
    assert existing.stat().st_mode & 0o077 == 0


def test_restore_refuses_while_a_server_runs_on_the_data_directory(tmp_path):
    running = ServerProcess(tmp_path / "data", embedded_agent=False).start()
    try:
        copy = tmp_path / "copy.tar"
        passed(running.env, "db", "backup", str(copy))
        database = (tmp_path / "data" / "runner.db").stat()
        message = refused(running.env, "db", "restore", "--force", str(copy))
        assert "a server is running on the data directory" in message, message
        assert "stop it before restoring" in message
        assert (tmp_path / "data" / "runner.db").stat().st_ino == database.st_ino
        assert running.api("GET", "/user").status_code == 401  # still serving
    finally:
        running.stop()
    assert "restored" in passed(running.env, "db", "restore", "--force", str(copy))


def test_restore_refuses_files_that_are_not_backups_of_this_project(server, tmp_path):
    fresh = into(server.env, tmp_path / "fresh")
    noise = tmp_path / "noise.bin"
    noise.write_bytes(os.urandom(64 * 1024))
    assert "is not a pipeline-runner backup" in refused(fresh, "db", "restore", str(noise))
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    assert "not a pipeline-runner database" in refused(fresh, "db", "restore", str(foreign))
    other_tar = tmp_path / "other.tar"
    with tarfile.open(other_tar, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        data = b'{"format": "something-else"}'
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert "is not a pipeline-runner backup" in refused(fresh, "db", "restore", str(other_tar))
    assert "no file" in refused(fresh, "db", "restore", str(tmp_path / "missing.tar"))
    leftovers = sorted(p.name for p in (tmp_path / "fresh").iterdir())
    assert leftovers == ["server.lock"], leftovers


def test_restore_refuses_to_replace_a_database_without_force(server, backup, tmp_path):
    fresh = into(server.env, tmp_path / "fresh")
    passed(fresh, "db", "restore", str(backup))
    message = refused(fresh, "db", "restore", str(backup))
    assert "runner.db exists: give --force" in message, message
    assert "restored" in passed(fresh, "db", "restore", "--force", str(backup))


def test_restored_key_file_is_the_servers_and_private(server, backup, tmp_path):
    fresh = tmp_path / "fresh"
    out = passed(into(server.env, fresh), "db", "restore", str(backup))
    assert "2 encrypted values decrypt with the backup's key" in out, out
    key = fresh / "secret.key"
    assert key.read_bytes() == (server.data_dir / "secret.key").read_bytes()
    assert key.stat().st_mode & 0o077 == 0
    assert (fresh / "runner.db").stat().st_mode & 0o077 == 0


def test_restore_refuses_a_key_that_does_not_decrypt_the_secrets(server, tmp_path):
    keyless = tmp_path / "keyless.tar"
    out = passed(server.env, "db", "backup", "--without-key", str(keyless))
    assert "key NOT included" in out, out
    fresh = tmp_path / "fresh"
    message = refused(into(server.env, fresh), "db", "restore", str(keyless))
    assert "2 encrypted values were written with the key of fingerprint" in message, message
    wrong = into(server.env, fresh, RUNNER_SECRET_KEY="not the key")
    assert "put the secret.key they were written with" in refused(
        wrong, "db", "restore", str(keyless)
    )
    assert not (fresh / "runner.db").exists()
    (fresh / "secret.key").write_bytes((server.data_dir / "secret.key").read_bytes())
    out = passed(into(server.env, fresh), "db", "restore", str(keyless))
    assert "2 encrypted values decrypt with" in out, out


def test_restore_upgrades_an_older_schema_to_this_versions(server, tmp_path):
    revisions, head = known_revisions()
    older = revisions[-3]
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    _migrate_to(f"sqlite:///{old_dir / 'runner.db'}", older)
    old_backup = tmp_path / "old.tar"
    out = passed(into(server.env, old_dir), "db", "backup", str(old_backup))
    assert f"schema revision {older}" in out, out
    fresh = tmp_path / "fresh"
    out = passed(into(server.env, fresh), "db", "restore", str(old_backup))
    assert f"upgraded from schema revision {older} to {head}" in out, out
    database = Database(f"sqlite:///{fresh / 'runner.db'}")
    try:
        assert database.revision() == head
    finally:
        database.dispose()
    # A plain SQLite file of this project (no archive, no key) is read as a backup too.
    plain = into(server.env, tmp_path / "from-plain")
    out = passed(plain, "db", "restore", str(old_dir / "runner.db"))
    assert f"upgraded from schema revision {older} to {head}" in out, out
    started = ServerProcess(fresh, embedded_agent=False).start()
    try:
        assert started.api("GET", "/repos", started.token()).status_code == 200
    finally:
        started.stop()


def _migrate_to(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    database = Database(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with database.write_connection() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        database.dispose()


def test_postgres_without_pg_dump_prints_the_recipe_and_fails(server, tmp_path):
    # PATH without PostgreSQL's tools; the database is never reached before the tools are found.
    env = into(
        server.env,
        tmp_path / "data",
        PATH=str(tmp_path / "empty-bin"),
        RUNNER_DATABASE_URL="postgresql+psycopg://ci@127.0.0.1:9/ci",
    )
    for command in ("backup", "restore"):
        target = tmp_path / "pg.tar" if command == "backup" else server.data_dir / "runner.db"
        message = refused(env, "db", command, str(target))
        assert "pg_dump and pg_restore are not on PATH" in message, message
        assert "pg_dump --format=custom" in message and "pg_restore --clean" in message
    assert not (tmp_path / "pg.tar").exists()
