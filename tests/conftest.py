"""Shared fixtures: the real Docker engine and the label every test resource carries."""

from __future__ import annotations

import os
import uuid

import pytest

TEST_LABEL = "pipeline-runner.test"
BUSYBOX = "runner-test/busybox"
PYTHON = "runner-test/python"

pytest_plugins = ["fixtures.postgres"]  # postgres_server, postgres_url


def _docker_or_fail():
    """Return a docker client, failing (in CI) or skipping (elsewhere) without an engine."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:  # the engine is a component the tests cannot do without
        if os.environ.get("CI"):
            pytest.fail(f"Docker engine not reachable in CI: {exc}")
        pytest.skip(f"no Docker engine: {exc} (run scripts/test-deps.sh)")


@pytest.fixture(scope="session")
def docker_client():
    client = _docker_or_fail()
    for image in (BUSYBOX, PYTHON):
        try:
            client.images.get(image)
        except Exception:
            pytest.fail(f"local image {image} missing: run scripts/base-images.sh")
    yield client
    # The sweep removes every test resource on the engine; RUNNER_TEST_SWEEP=0 leaves those of
    # other suites running on the same engine at the same time alone.
    if os.environ.get("RUNNER_TEST_SWEEP", "1") != "0":
        _remove_labelled(client, TEST_LABEL)


@pytest.fixture
def run_id():
    """A unique id a test puts in its resource labels and names."""
    return uuid.uuid4().hex[:10]


def _remove_labelled(client, label: str) -> None:
    flt = {"label": label}
    for c in client.containers.list(all=True, filters=flt):
        try:
            c.remove(force=True)
        except Exception:  # already being removed by its owner
            pass
    for n in client.networks.list(filters=flt):
        try:
            n.remove()
        except Exception:
            pass
    for v in client.volumes.list(filters=flt):
        try:
            v.remove(force=True)
        except Exception:
            pass
