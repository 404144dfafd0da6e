"""`runner db backup` taken from a running SQLite server while a step is writing its log, and
`runner db restore` into a fresh data directory: a server started there shows every build, the
statuses of their steps and their logs line for line (the running step's log up to the moment
of the backup), and the restored secret still decrypts and is masked in a new build."""

from __future__ import annotations

import time

import pytest

from runner.testing import LocalRepo, ServerProcess
from tests.cli.db_helpers import runner, snapshot, step_log

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLUG = "acme/backed-up"
SECRET = "pa55-word-backup"
# Build 2's second step ticks until it is cancelled (at most 10 minutes), so the backup is
# taken while it writes however slow the machine is; builds 1 and 3 do not tick.
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
  - test "$PASSWORD" = "pa55-word-backup" && echo secret decrypted
  - seq 1 20
- name: ticking
  image: runner-test/busybox
  commands:
  - n=0; if [ "$DRONE_BUILD_NUMBER" = 2 ]; then n=3000; fi
  - i=0; while [ $i -lt $n ]; do i=$((i+1)); echo "tick $i"; sleep 0.2; done
  - echo "ticking over"
"""


def ticks_seen(server: ServerProcess, token: str, least: int, timeout: float = 300) -> int:
    """Wait until build 2's ticking step is running and has printed ``least`` ticks; the number
    of tick lines then."""
    deadline = time.monotonic() + timeout
    seen, status = "", "?"
    while time.monotonic() < deadline:
        build = server.build(SLUG, 2, token)
        step = build["stages"][0]["steps"][-1]
        status = step["status"]
        if status == "running":
            seen = step_log(server, token, SLUG, 2, 1, step["number"])
            ticks = sum(line.startswith("tick ") for line in seen.splitlines())
            if ticks >= least:
                return ticks
        elif status not in ("pending",):
            break
        time.sleep(0.3)
    last = seen.splitlines()[-1:] if seen else []
    raise AssertionError(f"build 2's ticking step was {status}, last line {last}\n{server.log()}")


def test_backup_of_a_busy_server_restores_every_build_log_and_secret(tmp_path, docker_client):
    repo = LocalRepo(tmp_path / "git")
    repo.commit({".drone.yml": PIPELINE})
    first = ServerProcess(tmp_path / "first").start()
    try:
        token = first.token()
        resp = first.api("POST", "/repos", token, json={"slug": SLUG, "clone_url": repo.clone_url})
        assert resp.status_code == 201, resp.text
        assert "saved" in first.cli("secret", "add", SLUG, "password", SECRET)
        first.cli("build", "create", SLUG, "--branch", "main")
        built = first.wait_build(SLUG, 1, token)
        assert built["status"] == "success", first.explain_build(SLUG, built, token)
        first.cli("build", "create", SLUG, "--branch", "main")
        before = ticks_seen(first, token, least=5)

        backup = tmp_path / "runner-backup.tar"
        made = runner(first.env, "db", "backup", str(backup))
        assert made.returncode == 0, made.stderr
        ticking = first.build(SLUG, 2, token)["stages"][0]["steps"][-1]
        assert ticking["status"] == "running", f"the step stopped during the backup: {ticking}"
        assert ", 2 builds," in made.stdout, made.stdout
        assert "key included" in made.stdout, made.stdout

        first.cli("build", "cancel", SLUG, "2")
        first.wait_build(SLUG, 2, token)
        original = snapshot(first, token, SLUG)
    finally:
        first.stop()

    fresh = tmp_path / "restored"
    env = {**first.env, "RUNNER_DATA_DIR": str(fresh)}
    done = runner(env, "db", "restore", str(backup))
    assert done.returncode == 0, done.stderr
    assert "2 builds" in done.stdout and "the backup's key" in done.stdout, done.stdout

    # Lost stages are failed, not run again, so build 2 keeps the log it had at the backup.
    second = ServerProcess(fresh, extra_env={"RUNNER_LOST_STAGE_POLICY": "fail"}).start()
    try:
        token = second.token()
        restored = snapshot(second, token, SLUG)
        assert sorted(restored) == [1, 2], restored.keys()
        assert restored[1] == original[1]
        assert restored[2]["steps"]["hello"] == original[2]["steps"]["hello"]
        assert restored[2]["steps"]["clone"] == original[2]["steps"]["clone"]
        partial = restored[2]["steps"]["ticking"]["log"]
        whole = original[2]["steps"]["ticking"]["log"]
        assert partial == whole[: len(partial)], f"not a prefix: {partial[-3:]} / {whole[-3:]}"
        assert sum(line.startswith("tick ") for line in partial) >= before, partial[-3:]

        second.cli("build", "create", SLUG, "--branch", "main")
        third = second.wait_build(SLUG, 3, token)
        assert third["status"] == "success", second.explain_build(SLUG, third, token)
        hello = step_log(second, token, SLUG, 3, 1, 2).splitlines()
        assert "password ******" in hello and "secret decrypted" in hello, hello
        assert not any(SECRET in line for line in hello), hello
    finally:
        second.stop()
