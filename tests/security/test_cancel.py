"""Cancel always wins: a cancelled build whose agent was killed (or cut off) ends ``killed``, its
stage never runs again on another agent, and nothing of it is left on the engine once its agent
is back — real server, real agents, real Docker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.agents.harness import SLUG, Fleet

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LEASE = 10  # seconds: the server takes a silent agent's stage back after this (time enough
# for a loaded machine to send the cancel between the kill and the end of the lease)


def marked_pipeline(marks: Path) -> str:
    """One step that appends a line to ``marks/runs`` on the host each time it starts, then
    works for two minutes (the repository must be trusted for the host path)."""
    return f"""kind: pipeline
name: marked
clone:
  disable: true
steps:
- name: work
  image: runner-test/busybox
  volumes:
  - name: marks
    path: /marks
  commands:
  - echo run >> /marks/runs
  - echo started
  - sleep 120
volumes:
- name: marks
  host:
    path: {marks}
"""


def left_behind(docker_client, agent: str, number: int) -> dict[str, list]:
    """Containers, networks and volumes on the engine labelled with ``agent`` and build
    ``number``."""
    flt = {"label": [f"pipeline-runner.agent={agent}", f"pipeline-runner.build={number}"]}
    api = docker_client.api
    return {
        "containers": api.containers(all=True, filters=flt, quiet=True),
        "networks": api.networks(filters=flt),
        "volumes": (api.volumes(filters=flt) or {}).get("Volumes") or [],
    }


def wait_until_clean(docker_client, agent: str, number: int, log) -> None:
    deadline = time.monotonic() + 60
    while any(left_behind(docker_client, agent, number).values()):
        assert time.monotonic() < deadline, (left_behind(docker_client, agent, number), log())
        time.sleep(0.2)


def start_and_cancel(fleet: Fleet, marks: Path, agent: str) -> tuple[int, object]:
    """A trusted repository's marked build running on a new agent ``agent``; its number and
    the agent, once the step has started."""
    fleet.server.ok("PATCH", f"/repos/{SLUG}", json={"trusted": True})
    process = fleet.agent(agent)
    number = fleet.trigger(fleet.forge.push({".drone.yml": marked_pipeline(marks)}))
    fleet.wait_for_output(number, "started", "started its step")
    return number, process


def assert_killed_once(fleet: Fleet, number: int, marks: Path) -> dict:
    """The build ended killed by the cancel, its stage ran once, and ran no more for two
    lease periods while another agent stood idle."""
    server = fleet.server
    build = server.wait_done(SLUG, number, timeout=90)
    assert build["status"] == "killed", build
    stage = build["stages"][0]
    assert stage["status"] == "killed", stage
    assert stage["attempts"] == 1, stage
    events = server.ok("GET", f"/repos/{SLUG}/builds/{number}/history")["events"]
    assert [e for e in events if e["kind"] == "requeued"] == [], events
    # An idle agent stands by: a requeued stage would start on it at once.
    deadline = time.monotonic() + 2 * LEASE
    while time.monotonic() < deadline:
        assert (marks / "runs").read_text() == "run\n", "the stage ran again"
        time.sleep(0.5)
    assert server.build(SLUG, number)["stages"][0]["attempts"] == 1
    return build


def test_cancel_of_a_build_whose_agent_was_killed_ends_killed_and_nothing_runs_again(
    docker_client, tmp_path
):
    marks = tmp_path / "marks"
    marks.mkdir()
    with Fleet(tmp_path, lease_seconds=LEASE) as fleet:
        number, first = start_and_cancel(fleet, marks, "cancel-killed")
        first.kill()  # kill -9 mid-step: its container keeps running on the engine
        assert left_behind(docker_client, "cancel-killed", number)["containers"]
        fleet.server.ok("POST", f"/repos/{SLUG}/builds/{number}/cancel")
        fleet.agent("cancel-standby")

        build = assert_killed_once(fleet, number, marks)
        error = build["stages"][0]["error"]
        assert "cancelled" in error and "stopped renewing its lease" in error, error
        events = fleet.server.ok("GET", f"/repos/{SLUG}/builds/{number}/history")["events"]
        assert any(e["kind"] == "killed" and "cancelled" in e["message"] for e in events)

        # The killed agent comes back: it removes what it left before taking any work.
        first.start()
        wait_until_clean(docker_client, "cancel-killed", number, first.log)
        assert (marks / "runs").read_text() == "run\n"


def test_a_cut_off_agent_learns_its_cancelled_stage_is_gone_and_removes_it(docker_client, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    with Fleet(tmp_path, lease_seconds=LEASE) as fleet:
        number, agent = start_and_cancel(fleet, marks, "cancel-frozen")
        os.killpg(agent.proc.pid, signal.SIGSTOP)  # alive but silent, like a lost network
        try:
            fleet.server.ok("POST", f"/repos/{SLUG}/builds/{number}/cancel")
            fleet.agent("cancel-standby")
            assert_killed_once(fleet, number, marks)
            assert left_behind(docker_client, "cancel-frozen", number)["containers"], "unknowing"
        finally:
            os.killpg(agent.proc.pid, signal.SIGCONT)
        # Its next heartbeat says the stage is no longer its own: it stops and removes it,
        # without a restart and without reporting anything over the server's verdict.
        wait_until_clean(docker_client, "cancel-frozen", number, agent.log)
        build = fleet.server.build(SLUG, number)
        assert build["status"] == "killed" and build["stages"][0]["attempts"] == 1
        assert (marks / "runs").read_text() == "run\n"
