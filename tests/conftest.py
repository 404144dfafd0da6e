"""Shared fixtures: the real Docker engine, the label every test resource carries, and the
end-of-session sweep of what this session left on the engine.

The suite may run in parallel (pytest-xdist, see scripts/test.sh): every worker and every
server it starts shares one session id (``RUNNER_TEST_SESSION``, made here before the workers
start), and labels its Docker resources ``pipeline-runner.test=<session id>``. The sweep runs
once, in the process that started the session, after every worker is done, and removes only
this session's resources: other suites running on the same engine keep theirs.
``RUNNER_TEST_SWEEP=0`` turns it off.
"""

from __future__ import annotations

import os
import uuid

import pytest

from runner.testing import TEST_LABEL, session_id, session_label

BUSYBOX = "runner-test/busybox"
PYTHON = "runner-test/python"

__all__ = ["BUSYBOX", "PYTHON", "TEST_LABEL"]

# postgres_server, postgres_url, postgres_migrated_url; swarm_node
pytest_plugins = ["fixtures.postgres", "fixtures.swarm"]


def pytest_configure(config: pytest.Config) -> None:
    # Made before xdist starts its workers, which inherit it through the environment.
    session_id()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups of --dist loadgroup
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests sharing a module-scoped fixture (one server for a module, say) run on one worker,
    # so it is set up once; an explicit xdist_group mark wins. Other tests go anywhere.
    for item in items:
        if item.get_closest_marker("xdist_group") is None and _shares_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


def _shares_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        defs and defs[-1].scope in ("module", "package", "class")
        for defs in info.name2fixturedefs.values()
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return  # a worker: the process that started the session sweeps once all are done
    if os.environ.get("RUNNER_TEST_SWEEP", "1") == "0":
        return
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:  # no engine: nothing of this session can be on it
        return
    _remove_labelled(client, session_label())


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
    """The Docker engine, with the local test images present (fails in CI without them)."""
    client = _docker_or_fail()
    for image in (BUSYBOX, PYTHON):
        try:
            client.images.get(image)
        except Exception:
            pytest.fail(f"local image {image} missing: run scripts/base-images.sh")
    return client


@pytest.fixture
def run_id():
    """A unique id a test puts in its resource labels and names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def session_labels() -> dict[str, str]:
    """The labels of a Docker resource this session creates (removed by the end-of-session
    sweep if its test does not remove it)."""
    return {TEST_LABEL: session_id()}


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
