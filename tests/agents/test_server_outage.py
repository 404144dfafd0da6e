"""The server stops for 20 s while a real agent runs a step that prints continuously: the agent
keeps running, reconnects, and the stored log holds every line exactly once, in order."""

from __future__ import annotations

import time

import pytest

from tests.agents.harness import SLUG, Fleet, pipeline

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LINES = 300
PIPELINE = pipeline(
    "chatty",
    f'i=0; while [ $i -lt {LINES} ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done',
    step="print",
)


def test_agent_rides_out_a_server_outage_without_losing_or_repeating_lines(docker_client, tmp_path):
    with Fleet(tmp_path, lease_seconds=60) as fleet:
        server = fleet.server
        agent = fleet.agent("agent-steady")
        number = fleet.trigger(fleet.forge.push({".drone.yml": PIPELINE}))

        fleet.wait_for_output(number, "line 20\n", "started printing")
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
