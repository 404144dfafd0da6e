"""The server stops for 20 s while a real agent runs a step that prints continuously: the agent
keeps running, reconnects, and the stored log holds every line exactly once, in order."""

from __future__ import annotations

import time

import pytest

from tests.agents.harness import AgentProcess, Forge, Server, add_repo

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLUG = "acme/app"
LINES = 300
PIPELINE = f"""\
kind: pipeline
name: chatty
clone:
  disable: true
steps:
- name: print
  image: runner-test/busybox
  commands:
  - i=0; while [ $i -lt {LINES} ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done
"""


def test_agent_rides_out_a_server_outage_without_losing_or_repeating_lines(docker_client, tmp_path):
    server = Server(tmp_path / "server", lease_seconds=60).start()
    agent = None
    try:
        forge = Forge(tmp_path / "forge")
        repo = add_repo(server, forge)
        agent = AgentProcess(server, tmp_path, "agent-steady").start()
        sha = forge.push({".drone.yml": PIPELINE})
        made = server.hook(SLUG, repo["webhook_secret"], {"ref": "refs/heads/main", "commit": sha})
        number = made["build"]["number"]

        def printing(build):
            stage = build["stages"][0] if build["stages"] else {}
            if stage.get("status") != "running":
                return False
            return "line 20\n" in server.step_log(SLUG, number, stage["number"], 1)

        server.wait(SLUG, number, printing, what="started printing")
        server.stop()
        time.sleep(20)
        assert agent.proc.poll() is None, "the agent must keep running while the server is away"
        server.start()

        build = server.wait_done(SLUG, number, timeout=180)
        assert build["status"] == "success", build
        stage = build["stages"][0]
        log = server.step_log(SLUG, number, stage["number"], 1).splitlines()
        printed = [line for line in log if line.startswith("line ")]
        assert printed == [f"line {i}" for i in range(LINES)]
        assert stage["attempts"] == 1
    finally:
        if agent is not None:
            agent.stop()
        server.stop()
