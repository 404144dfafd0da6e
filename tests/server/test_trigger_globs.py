"""One glob dialect through the real Triggerer (real git, real SQLite): a push of
``feature/a/b`` gets the same answer from ``when: branch``, a ``trigger`` and an environment's
``branches`` — ``feature/*`` takes none of them, ``feature/**`` all, as in Drone and Woodpecker
(doublestar: drone/runner-go manifest/cond.go, woodpecker constraint/list.go)."""

from __future__ import annotations

import pytest
from test_trigger import Origin, add_repo, close_services, make_services, push_event

from runner.server.trigger import BuildSkipped

PIPELINE = """\
kind: pipeline
type: docker
name: default
steps:
  - name: always
    image: runner-test/busybox
    commands: [true]
  - name: feature
    image: runner-test/busybox
    commands: [true]
    when:
      branch: PATTERN
"""

TRIGGERED = """\
kind: pipeline
type: docker
name: default
trigger:
  branch: PATTERN
steps:
  - name: only
    image: runner-test/busybox
    commands: [true]
"""


@pytest.fixture
def hub(tmp_path):
    services = make_services(tmp_path)
    yield services
    close_services(services)


@pytest.mark.parametrize(
    ("pattern", "branch", "taken"),
    [
        ("feature/*", "feature/a", True),
        ("feature/*", "feature/a/b", False),
        ("feature/**", "feature/a/b", True),
    ],
)
def test_when_trigger_and_environment_agree_on_a_branch(tmp_path, hub, pattern, branch, taken):
    origin = Origin(tmp_path / "origin")
    files = {".drone.yml": PIPELINE.replace("PATTERN", pattern)}
    sha = origin.commit(files, "change", branch=branch)
    repo = add_repo(hub, origin)
    hub.stores.environments.create(repo.id, "review", branches=[pattern])
    build = hub.triggerer.trigger(repo, push_event(sha, branch=branch))
    steps = [step.name for step in build.stages[0].steps]
    assert ("feature" in steps) is taken
    assert (build.target == "review") is taken

    other = Origin(tmp_path / "other")
    sha = other.commit({".drone.yml": TRIGGERED.replace("PATTERN", pattern)}, "c", branch=branch)
    repo = hub.stores.repos.create("acme/other", forge="github", clone_url=other.url)
    if taken:
        assert hub.triggerer.trigger(repo, push_event(sha, branch=branch)).stages
    else:
        with pytest.raises(BuildSkipped):
            hub.triggerer.trigger(repo, push_event(sha, branch=branch))
