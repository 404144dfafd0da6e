"""Fixtures of the engine tests: a DockerEngine whose resources carry the test label."""

from __future__ import annotations

import pytest

from runner.engine.docker import DockerEngine

TEST_LABEL = "pipeline-runner.test"  # same as tests/conftest.py


@pytest.fixture
def agent_name(run_id):
    return f"test-{run_id}"


@pytest.fixture
def engine(docker_client, agent_name, run_id):
    """An untrusted engine; each test's resources are findable by its agent name."""
    return DockerEngine(docker_client, agent_name=agent_name, extra_labels={TEST_LABEL: run_id})


@pytest.fixture
def leftovers(docker_client, agent_name):
    """A function listing what is still labelled with the test's agent name."""
    return lambda: find_leftovers(docker_client, agent_name)


def find_leftovers(client, agent_name: str) -> list[str]:
    """Containers, networks and non-cache volumes still labelled with ``agent_name``."""
    flt = {"label": f"pipeline-runner.agent={agent_name}"}
    found = [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
    found += [f"network {n.name}" for n in client.networks.list(filters=flt)]
    found += [
        f"volume {v.name}"
        for v in client.volumes.list(filters=flt)
        if (v.attrs.get("Labels") or {}).get("pipeline-runner.cache") != "1"
    ]
    return found
