"""A real ``runner agent`` starting on a real Docker engine removes what a dead agent of its
name left behind (through ``Engine.cleanup_leftovers``): its containers go, while cache
volumes and another agent's containers stay."""

from __future__ import annotations

import time

import pytest

from runner.engine.labels import LABEL_AGENT, LABEL_CACHE
from runner.testing import TEST_LABEL, AgentProcess, ServerProcess

pytestmark = pytest.mark.docker

BUSYBOX = "runner-test/busybox"


def _gone(client, container_id: str) -> bool:
    return not client.containers.list(all=True, filters={"id": container_id})


def test_an_agent_start_removes_the_containers_a_dead_agent_of_its_name_left(
    docker_client, tmp_path, run_id
):
    dead, other = f"dead-{run_id}", f"other-{run_id}"
    marks = {TEST_LABEL: run_id}
    left = docker_client.containers.create(
        BUSYBOX, ["sleep", "300"], labels={**marks, LABEL_AGENT: dead}
    )
    kept = docker_client.containers.create(
        BUSYBOX, ["sleep", "300"], labels={**marks, LABEL_AGENT: other}
    )
    cache = docker_client.volumes.create(
        f"pr-cache-{run_id}", labels={**marks, LABEL_AGENT: dead, LABEL_CACHE: "1"}
    )
    server = ServerProcess(tmp_path / "server", embedded_agent=False).start()
    agent = AgentProcess(server, tmp_path / "agent", dead)
    try:
        agent.start()
        deadline = time.monotonic() + 90
        while not _gone(docker_client, left.id) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(docker_client, left.id), agent.log()
        assert not _gone(docker_client, kept.id)
        assert docker_client.volumes.get(cache.name).name == cache.name
    finally:
        agent.stop()
        server.stop()
        for container in (left, kept):
            try:
                container.remove(force=True)
            except Exception:  # removed by the agent, as it should be
                pass
        cache.remove(force=True)
