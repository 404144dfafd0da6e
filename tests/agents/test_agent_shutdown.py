"""SIGTERM to a real agent mid-step: by default the stage finishes and is reported before the
agent exits; with RUNNER_AGENT_SHUTDOWN=handback it is stopped and handed back, and another
agent runs it to success, the history saying why."""

from __future__ import annotations

import signal

import pytest

from tests.agents.harness import AgentProcess, Forge, Server, add_repo, agent_ids

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLUG = "acme/app"
PIPELINE = """\
kind: pipeline
name: count
clone:
  disable: true
steps:
- name: count
  image: runner-test/busybox
  commands:
  - for i in $(seq 1 15); do echo "tick $i"; sleep 0.2; done
"""


def test_sigterm_finishes_or_hands_back_running_stages(docker_client, tmp_path):
    server = Server(tmp_path / "server").start()
    agents: list[AgentProcess] = []
    try:
        forge = Forge(tmp_path / "forge")
        repo = add_repo(server, forge)
        sha = forge.push({".drone.yml": PIPELINE})

        def ticking(number):
            def check(build):
                stage = build["stages"][0] if build["stages"] else {}
                if stage.get("status") != "running":
                    return False
                return "tick 2" in server.step_log(SLUG, number, stage["number"], 1)

            return check

        def start_build() -> int:
            made = server.hook(
                SLUG, repo["webhook_secret"], {"ref": "refs/heads/main", "commit": sha}
            )
            return made["build"]["number"]

        finisher = AgentProcess(server, tmp_path, "finisher").start()
        agents.append(finisher)
        number = start_build()
        server.wait(SLUG, number, ticking(number), what="started")
        finisher.proc.send_signal(signal.SIGTERM)
        assert finisher.proc.wait(60) == 0
        build = server.build(SLUG, number)
        assert build["status"] == "success", build
        assert build["stages"][0]["attempts"] == 1

        quitter = AgentProcess(
            server, tmp_path, "quitter", extra_env={"RUNNER_AGENT_SHUTDOWN": "handback"}
        ).start()
        agents.append(quitter)
        number = start_build()
        server.wait(SLUG, number, ticking(number), what="started")
        quitter.proc.send_signal(signal.SIGTERM)
        assert quitter.proc.wait(60) == 0
        requeued = server.build(SLUG, number)
        assert requeued["status"] in ("pending", "running")
        assert requeued["stages"][0]["status"] == "pending"
        events = server.ok("GET", f"/repos/{SLUG}/builds/{number}/history")["events"]
        assert [e["message"] for e in events if e["kind"] == "requeued"] == [
            "requeued: agent quitter stopped and handed it back"
        ]
        finisher.start()
        build = server.wait_done(SLUG, number)
        assert build["status"] == "success", build
        assert build["stages"][0]["agent_id"] == agent_ids(server)["finisher"]
    finally:
        for agent in agents:
            agent.stop()
        server.stop()
