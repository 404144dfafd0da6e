"""Three real agents of capacity 2 and 20 queued stages: no stage runs twice, none is lost, no
agent exceeds its capacity; depends_on orders stages across agents and a failed dependency
skips its dependents; a cancel reaches a remote agent and stops its containers."""

from __future__ import annotations

import time

import pytest

from tests.agents.harness import SLUG, Fleet, agent_containers

pytestmark = [pytest.mark.docker, pytest.mark.slow]

WORKERS = [f"s{i:02d}" for i in range(1, 19)]


def stage(name: str, commands: list[str], depends_on: list[str] | None = None) -> str:
    deps = f"depends_on: [{', '.join(depends_on)}]\n" if depends_on else ""
    cmds = "".join(f"  - {c}\n" for c in commands)
    return (
        f"kind: pipeline\nname: {name}\nclone:\n  disable: true\n{deps}"
        f"steps:\n- name: work\n  image: runner-test/busybox\n  commands:\n{cmds}"
    )


FLEET = "---\n".join(
    [stage(n, ["sleep 1", f"echo done {n}"]) for n in WORKERS]
    + [
        stage("broken", ["exit 3"]),
        stage("after-broken", ["echo must not run"], ["broken"]),
        stage("final", ["echo all done"], WORKERS),
    ]
)
LONG = stage("long", ["echo started", "sleep 300"])


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in intervals] + [(f, -1) for _, f in intervals])
    running = peak = 0
    for _, delta in points:
        running += delta
        peak = max(peak, running)
    return peak


def wait_connected(server, count: int) -> None:
    """Wait until ``count`` agents have asked the server for work (each is polling then)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        agents = server.ok("GET", "/agents/status")
        if sum(1 for a in agents if a["connected"]) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} agents never connected: {agents}")


def test_twenty_stages_on_three_agents_then_a_cancel(docker_client, tmp_path):
    with Fleet(tmp_path) as fleet:
        server = fleet.server
        # The three agents wait for work, then find 20 claimable stages at once. (Queued
        # before them, the first two can finish everything while a loaded machine still
        # starts the third.)
        for i in range(3):
            fleet.agent(f"fleet-{i}", capacity=2)
        wait_connected(server, 3)
        number = fleet.trigger(fleet.forge.push({".drone.yml": FLEET}))
        build = server.wait_done(SLUG, number, timeout=240)
        stages = {s["name"]: s for s in build["stages"]}
        assert len(stages) == 21
        assert build["status"] == "failure"
        assert {n: stages[n]["status"] for n in WORKERS + ["final"]} == dict.fromkeys(
            WORKERS + ["final"], "success"
        )
        assert stages["broken"]["status"] == "failure"
        assert stages["after-broken"]["status"] == "skipped"
        assert stages["after-broken"]["agent_id"] is None

        ran = [s for s in stages.values() if s["status"] != "skipped"]
        assert all(s["attempts"] == 1 for s in ran), [(s["name"], s["attempts"]) for s in ran]
        for name in WORKERS:
            log = server.step_log(SLUG, number, stages[name]["number"], 1).splitlines()
            assert log.count(f"done {name}") == 1
        by_agent: dict[int, list[tuple[float, float]]] = {}
        for s in ran:
            by_agent.setdefault(s["agent_id"], []).append((s["started"], s["finished"]))
        assert len(by_agent) == 3, "every agent took work"
        assert all(max_overlap(spans) <= 2 for spans in by_agent.values())
        assert stages["final"]["started"] >= max(stages[n]["finished"] for n in WORKERS)

        # A cancel reaches the agent running the stage and stops its container.
        long_number = fleet.trigger(fleet.forge.push({".drone.yml": LONG}))
        running = fleet.wait_for_output(long_number, "started", "started sleeping")
        holder = next(a for a in fleet.agents if agent_containers(docker_client, a.name))
        server.ok("POST", f"/repos/{SLUG}/builds/{long_number}/cancel")
        cancelled = server.wait_done(SLUG, long_number, timeout=60)
        assert cancelled["status"] == "killed", cancelled
        assert cancelled["stages"][0]["steps"][0]["status"] == "killed"
        assert running["stages"][0]["agent_id"] == cancelled["stages"][0]["agent_id"]
        deadline = time.monotonic() + 60
        while agent_containers(docker_client, holder.name) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert agent_containers(docker_client, holder.name) == []
