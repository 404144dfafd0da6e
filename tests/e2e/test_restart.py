"""Restarting the server while a build runs on a remote agent loses nothing: the build finishes
and its log is complete and in order."""

from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.conftest import add_repo
from tests.e2e.harness import AgentProcess, ServerProcess, github_push

pytestmark = [pytest.mark.docker]

LINES = 60

PIPELINE = f"""\
kind: pipeline
name: default
steps:
- name: count
  image: runner-test/busybox
  commands:
  - for i in $(seq 1 {LINES}); do echo "line $i"; sleep 0.1; done
"""


def _wait_for_line(server, token, slug, text, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = server.api("GET", f"/repos/{slug}/builds/1/logs/1/2", token)
        if resp.status_code == 200 and text in resp.text:
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never reached the server:\n{server.log()}")


def test_server_restart_mid_build_loses_nothing(tmp_path, docker_client, local_repo):
    server = ServerProcess(tmp_path / "server", embedded_agent=False).start()
    agent = None
    try:
        token = server.token()
        agent = AgentProcess(server, tmp_path / "agent").start()
        slug = "acme/restart"
        repo = add_repo(server, token, slug, local_repo)
        sha = local_repo.commit({".drone.yml": PIPELINE})
        headers, body = github_push(slug, local_repo, sha, repo["webhook_secret"])
        resp = requests.post(f"{server.url}/hook/{slug}", data=body, headers=headers, timeout=30)
        assert resp.status_code in (200, 201), resp.text

        _wait_for_line(server, token, slug, "line 5\n")
        server.stop()
        time.sleep(1.0)  # the agent keeps running the step while nobody answers
        server.start()

        build = server.wait_build(slug, 1, token)
        assert build["status"] == "success", f"{build}\n{server.log()}\n{agent.log()}"
        log = server.api("GET", f"/repos/{slug}/builds/1/logs/1/2", token).text
        printed = [line for line in log.splitlines() if line.startswith("line ")]
        assert printed == [f"line {i}" for i in range(1, LINES + 1)], log
        assert log.count("line 1\n") == 1
    finally:
        if agent is not None:
            agent.stop()
        server.stop()
