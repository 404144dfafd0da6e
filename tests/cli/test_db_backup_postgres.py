"""`runner db backup` of a running server on PostgreSQL (through pg_dump) and `runner db restore`
(through pg_restore) into a new database and data directory: a server there shows the builds,
step statuses and logs of the first, its secret decrypts and is masked in a new build; and the
restore refuses while a server is connected to the target database, and without --force over
a database that holds tables."""

from __future__ import annotations

import shutil

import pytest

from runner.testing import LocalRepo, ServerProcess
from tests.cli.db_helpers import passed, refused, snapshot, step_log

pytestmark = [pytest.mark.docker, pytest.mark.postgres]

SLUG = "acme/on-postgres"
SECRET = "pg-pa55-word"
PIPELINE = """\
kind: pipeline
name: default
steps:
- name: hello
  image: runner-test/busybox
  environment:
    PASSWORD:
      from_secret: password
  commands:
  - echo "password $PASSWORD"
  - test "$PASSWORD" = "pg-pa55-word" && echo secret decrypted
  - seq 1 50
"""


@pytest.fixture
def second_database(postgres_server):
    """The URL of another new empty database, dropped after the test."""
    name = postgres_server.create()
    yield postgres_server.url(name)
    postgres_server.drop(name)


def test_postgres_backup_restores_into_a_new_database(
    tmp_path, docker_client, postgres_migrated_url, second_database
):
    assert shutil.which("pg_dump") and shutil.which("pg_restore"), "PostgreSQL's tools"
    repo = LocalRepo(tmp_path / "git")
    repo.commit({".drone.yml": PIPELINE})
    first = ServerProcess(tmp_path / "first", database_url=postgres_migrated_url).start()
    try:
        token = first.token()
        body = {"slug": SLUG, "clone_url": repo.clone_url}
        assert first.api("POST", "/repos", token, json=body).status_code == 201
        assert "saved" in first.cli("secret", "add", SLUG, "password", SECRET)
        first.cli("build", "create", SLUG, "--branch", "main")
        built = first.wait_build(SLUG, 1, token)
        assert built["status"] == "success", first.explain_build(SLUG, built, token)
        backup = tmp_path / "pg-backup.tar"
        out = passed(first.env, "db", "backup", str(backup))
        assert "postgresql database" in out and ", 1 builds," in out, out
        assert "key included" in out, out
        original = snapshot(first, token, SLUG)
    finally:
        first.stop()

    target = {
        **first.env,
        "RUNNER_DATA_DIR": str(tmp_path / "second"),
        "RUNNER_DATABASE_URL": second_database,
    }
    out = passed(target, "db", "restore", str(backup))
    assert "1 builds" in out and "the backup's key" in out, out

    second = ServerProcess(tmp_path / "second", database_url=second_database).start()
    try:
        token = second.token()
        assert snapshot(second, token, SLUG) == original
        message = refused(target, "db", "restore", "--force", str(backup))
        assert "a server is running on the data directory" in message, message
        elsewhere = {**target, "RUNNER_DATA_DIR": str(tmp_path / "elsewhere")}
        message = refused(elsewhere, "db", "restore", "--force", str(backup))
        assert "other sessions are connected to the database" in message, message

        second.cli("build", "create", SLUG, "--branch", "main")
        again = second.wait_build(SLUG, 2, token)
        assert again["status"] == "success", second.explain_build(SLUG, again, token)
        hello = step_log(second, token, SLUG, 2, 1, 2).splitlines()
        assert "password ******" in hello and "secret decrypted" in hello, hello
    finally:
        second.stop()

    message = refused(target, "db", "restore", str(backup))
    assert "the database holds tables already: give --force" in message, message
    out = passed(target, "db", "restore", "--force", str(backup))
    assert "1 builds" in out, out  # build 2, made after the backup, is gone again
