"""kill -9 of a real agent in the middle of a step: the stage is requeued when its lease runs
out, runs to success on another agent, the build's history shows the requeue and its reason,
and the lost agent's containers are removed when it comes back."""

from __future__ import annotations

import time

import pytest

from tests.agents.harness import SLUG, Fleet, agent_containers, agent_ids, pipeline

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# 30 s: the step still runs when the agent is killed, however slow the machine.
PIPELINE = pipeline("count", 'for i in $(seq 1 150); do echo "tick $i"; sleep 0.2; done')


def test_stage_of_a_killed_agent_is_requeued_and_finishes_elsewhere(docker_client, tmp_path):
    with Fleet(tmp_path, lease_seconds=4) as fleet:
        server = fleet.server
        first = fleet.agent("agent-first")
        number = fleet.trigger(fleet.forge.push({".drone.yml": PIPELINE}))

        fleet.wait_for_output(number, "tick 3", "started ticking")
        ids = agent_ids(server)
        assert server.build(SLUG, number)["stages"][0]["agent_id"] == ids["agent-first"]
        first.kill()
        assert agent_containers(docker_client, "agent-first"), "the step container stays behind"
        fleet.agent("agent-second")

        build = server.wait_done(SLUG, number, timeout=300)
        assert build["status"] == "success", build
        stage = build["stages"][0]
        assert stage["agent_id"] == agent_ids(server)["agent-second"]
        assert stage["attempts"] == 2
        log = server.step_log(SLUG, number, stage["number"], 1).splitlines()
        ticks = [line for line in log if line.startswith("tick ")]
        assert ticks == [f"tick {i}" for i in range(1, 151)]  # the second run's log, once
        events = server.ok("GET", f"/repos/{SLUG}/builds/{number}/history")["events"]
        requeues = [e for e in events if e["kind"] == "requeued"]
        assert len(requeues) == 1
        assert requeues[0]["text"].startswith(
            "requeued: agent agent-first stopped renewing its lease"
        )
        assert requeues[0]["stage_id"] == stage["id"]
        assert all(
            b["status"] not in ("running", "pending")
            for b in server.ok("GET", f"/repos/{SLUG}/builds")
        )

        # The lost agent comes back: it removes what it left behind before taking work.
        first.start()
        deadline = time.monotonic() + 60
        while agent_containers(docker_client, "agent-first") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert agent_containers(docker_client, "agent-first") == [], first.log()
