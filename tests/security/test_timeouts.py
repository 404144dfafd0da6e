"""The repository's timeout is applied: a real agent stops a step running past it within seconds
and the build ends ``killed`` with "timed out after N s"; an agent that ignores it (renewing its
lease forever) has the stage ended by the server all the same, and learns so at its next
heartbeat.

Drone does the same: its runners run each stage under a context bounded by the repository's
timeout (drone-runner-docker, ``context.WithTimeout(ctx, time.Duration(repo.Timeout) *
time.Minute)``), stop the steps when it passes and end the stage ``killed``; its server's reaper
(drone/drone ``service/reaper``) ends builds still running past their deadline. Here the
timeout is in seconds."""

from __future__ import annotations

import time

import pytest
import requests

from tests.agents.harness import SLUG, Fleet, pipeline


def set_timeout(fleet: Fleet, seconds: int) -> None:
    fleet.server.ok("PATCH", f"/repos/{SLUG}", json={"timeout": seconds})


@pytest.mark.docker
@pytest.mark.slow
def test_a_step_longer_than_the_repository_timeout_ends_killed_with_the_reason(
    docker_client, tmp_path
):
    with Fleet(tmp_path) as fleet:
        set_timeout(fleet, 5)
        fleet.agent("timeout-agent")
        number = fleet.trigger(fleet.forge.push({".drone.yml": pipeline("slow", "sleep 60")}))
        build = fleet.server.wait_done(SLUG, number, timeout=90)
        assert build["status"] == "killed", build
        stage = build["stages"][0]
        assert stage["status"] == "killed"
        assert "timed out after 5s" in stage["error"], stage
        step = stage["steps"][0]
        assert step["status"] == "killed" and "timed out after 5s" in step["error"], step
        assert step["finished"] - step["started"] < 50, "the step ran to its end"


def test_the_server_ends_a_stage_whose_agent_ignores_the_timeout(tmp_path):
    with Fleet(tmp_path, lease_seconds=2) as fleet:
        server = fleet.server
        set_timeout(fleet, 3)
        number = fleet.trigger(fleet.forge.push({".drone.yml": pipeline("slow", "sleep 600")}))
        # A stubborn agent: claims the stage, then only renews its lease.
        rpc = requests.Session()
        rpc.headers["Authorization"] = "Bearer " + server.agent_token("stubborn")
        claimed = rpc.post(server.url + "/rpc/v1/claim", json={"timeout": 20}, timeout=40)
        assert claimed.status_code == 200, claimed.text
        payload = claimed.json()
        assert payload["spec"]["timeout"] == 3  # it was told
        stage_id = payload["stage"]["id"]
        deadline = time.monotonic() + 60
        while True:
            beat = rpc.post(f"{server.url}/rpc/v1/stages/{stage_id}/heartbeat", timeout=10)
            assert beat.status_code == 200, beat.text
            if beat.json()["lost"]:
                break
            assert time.monotonic() < deadline, server.build(SLUG, number)
            time.sleep(0.5)
        assert beat.json()["cancel"] is True  # stop it: the stage is not yours any more
        build = server.build(SLUG, number)
        assert build["status"] == "killed", build
        assert build["stages"][0]["error"].startswith("timed out after 3s"), build
        events = server.ok("GET", f"/repos/{SLUG}/builds/{number}/history")["events"]
        assert any(e["kind"] == "timed-out" for e in events), events
