"""A real server with its logs in an S3-compatible bucket (moto's S3 server on 127.0.0.1): a
build runs in Docker, its stage's logs move into the bucket once it ends and leave the
database empty of log bytes, the API serves them from there (raw, line ranges, search, the
stream of an ended step), and purging the repository removes its objects; while the bucket is
down, every reader of a moved log answers 503 with Retry-After."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from runner.testing import S3Server, ServerProcess, s3_server
from tests.e2e.conftest import add_repo
from tests.e2e.harness import github_push

pytestmark = [pytest.mark.docker]

LINES = 20_000
PIPELINE = f"""\
kind: pipeline
type: docker
name: default
clone:
  disable: true
steps:
- name: count
  image: runner-test/busybox
  commands:
  - seq 1 {LINES}
- name: done
  image: runner-test/busybox
  commands:
  - echo all counted
"""


def _log_bytes_in_database(data_dir) -> int:
    with sqlite3.connect(f"file:{data_dir / 'runner.db'}?mode=ro", uri=True) as conn:
        return int(
            conn.execute("SELECT coalesce(sum(length(data)), 0) FROM log_chunks").fetchone()[0]
        )


def _until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"never {what}")


@contextmanager
def _moved_build(tmp_path, local_repo, slug: str) -> Iterator[tuple[S3Server, ServerProcess, str]]:
    """A server on a moto bucket whose repository ``slug`` ran build 1 of ``PIPELINE``, both
    of its steps' logs moved into the bucket: the bucket, the server and an admin token."""
    with s3_server() as s3:
        server = ServerProcess(tmp_path / "data", extra_env=s3.server_env()).start()
        try:
            token = server.token("admin")
            repo = add_repo(server, token, slug, local_repo)
            sha = local_repo.commit({".drone.yml": PIPELINE}, message="count")
            headers, body = github_push(slug, local_repo, sha, repo["webhook_secret"])
            assert server.post_hook(slug, headers, body).status_code in (200, 201)
            build = server.wait_build(slug, 1, token, timeout=180)
            assert build["status"] == "success", server.explain_build(slug, build, token)
            keys = _until(lambda: len(s3.keys()) == 2 and s3.keys(), 60, "moved both logs")
            assert all(key.startswith(f"ci/{repo['id']}/") for key in keys)
            yield s3, server, token
        finally:
            server.stop()


def test_an_ended_build_is_read_from_the_bucket_and_purged_with_its_repository(
    tmp_path, local_repo, docker_client
):
    slug = "acme/bucketed"
    with _moved_build(tmp_path, local_repo, slug) as (s3, server, token):
        assert _log_bytes_in_database(server.data_dir) == 0

        base = f"/repos/{slug}/builds/1/logs/1/1"
        raw = server.api("GET", base, token)
        assert raw.status_code == 200
        assert raw.text.splitlines()[1:] == [str(i) for i in range(1, LINES + 1)]
        window = server.api("GET", f"{base}/lines?from=15002&count=3", token).json()
        assert window["lines"] == ["15001", "15002", "15003"]  # line 1 is the command
        found = server.api("GET", f"{base}/search?q=19999", token).json()
        assert [hit["line"] for hit in found["lines"]] == [20_000] and found["complete"]
        with requests.get(
            f"{server.url}/api/v1{base}/stream",
            headers={"Authorization": f"Bearer {token}"},
            stream=True,
            timeout=60,
        ) as stream:
            assert stream.status_code == 200
            events = stream.text.split("\n\n")
        lines = [
            line[len("data: ") :]
            for event in events
            if event.startswith("id: ")
            for line in event.splitlines()
            if line.startswith("data: ")
        ]
        assert lines[1:] == [str(i) for i in range(1, LINES + 1)]
        assert "event: end" in events[-2]
        other = server.api("GET", f"/repos/{slug}/builds/1/logs/1/2", token)
        assert other.text.splitlines()[-1] == "all counted"

        assert server.api("DELETE", f"/repos/{slug}/purge", token).status_code == 200
        _until(lambda: s3.keys() == [], 60, "removed the purged repository's objects")


def test_a_moved_log_is_a_503_while_the_bucket_is_down(tmp_path, local_repo, docker_client):
    slug = "acme/outage"
    with _moved_build(tmp_path, local_repo, slug) as (s3, server, token):
        s3.stop()
        build = server.build(slug, 1, token)
        step_id = build["stages"][0]["steps"][0]["id"]
        base = f"/repos/{slug}/builds/1/logs/1/1"
        # The multiplexed stream of the build pages too: it answers 503 with Retry-After, which
        # the pages wait out, rather than opening and dropping at once.
        paths = (
            base,
            f"{base}/stream",
            f"{base}/lines?from=1&count=5",
            f"/stream?log={step_id}:-1",
        )
        for path in paths:
            answer = server.api("GET", path, token)
            assert answer.status_code == 503, (path, answer.status_code, answer.text[:200])
            assert int(answer.headers["Retry-After"]) > 0
            assert s3.endpoint not in answer.text and "log bucket" in answer.text
        # The rest of the server is unaffected: the build and its steps still read.
        assert server.build(slug, 1, token)["status"] == "success"
