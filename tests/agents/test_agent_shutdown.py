"""SIGTERM to a real agent mid-step: by default the stage finishes and is reported before the
agent exits; with RUNNER_AGENT_SHUTDOWN=handback it is stopped and handed back, and another
agent runs it to success, the history saying why."""

from __future__ import annotations

import signal

import pytest

from tests.agents.harness import SLUG, Fleet, agent_ids, pipeline

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PIPELINE = pipeline("count", 'for i in $(seq 1 15); do echo "tick $i"; sleep 0.2; done')
# The handed-back stage must still run when SIGTERM arrives, however slow the machine: 30 s.
LONG_PIPELINE = pipeline("count", 'for i in $(seq 1 150); do echo "tick $i"; sleep 0.2; done')


def test_sigterm_finishes_or_hands_back_running_stages(docker_client, tmp_path):
    with Fleet(tmp_path) as fleet:
        server = fleet.server
        sha = fleet.forge.push({".drone.yml": PIPELINE})

        finisher = fleet.agent("finisher")
        number = fleet.trigger(sha)
        fleet.wait_for_output(number, "tick 2", "started")
        finisher.proc.send_signal(signal.SIGTERM)
        assert finisher.proc.wait(60) == 0
        build = server.build(SLUG, number)
        assert build["status"] == "success", build
        assert build["stages"][0]["attempts"] == 1

        quitter = fleet.agent("quitter", extra_env={"RUNNER_AGENT_SHUTDOWN": "handback"})
        number = fleet.trigger(fleet.forge.push({".drone.yml": LONG_PIPELINE}))
        fleet.wait_for_output(number, "tick 2", "started")
        quitter.proc.send_signal(signal.SIGTERM)
        assert quitter.proc.wait(60) == 0
        requeued = server.build(SLUG, number)
        assert requeued["status"] in ("pending", "running")
        assert requeued["stages"][0]["status"] == "pending"
        events = server.ok("GET", f"/repos/{SLUG}/builds/{number}/history")["events"]
        assert [e["text"] for e in events if e["kind"] == "requeued"] == [
            "requeued: agent quitter stopped and handed it back"
        ]
        finisher.start()
        build = server.wait_done(SLUG, number, timeout=300)
        assert build["status"] == "success", build
        assert build["stages"][0]["agent_id"] == agent_ids(server)["finisher"]
