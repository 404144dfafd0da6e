"""Re-running the failed stages of a build (``runner.services.builds.rerun_failed``) with a real
triggerer, git repository and SQLite: the new build reads the file again at the same commit,
runs the failed stages, the stages that did not succeed and everything depending on them, and
carries the other stages over with their results; a build still running or without a failed
stage is refused; the event log names who re-ran which stages. The same path with an agent
running the stages is in tests/webui/test_webui_actions_browser.py."""

from __future__ import annotations

import dataclasses

import pytest

from runner.core import FAILURE, PENDING, SKIPPED, SUCCESS
from runner.errors import Conflict
from runner.services import builds as build_actions
from tests.server.test_trigger import Origin, close_services, make_services, push_event

FOUR_STAGES = "\n---\n".join(
    f"kind: pipeline\nname: {name}\n{deps}steps:\n- name: work\n  image: busybox\n"
    "  commands: [true]\n"
    for name, deps in [
        ("a", ""),
        ("b", "depends_on: [a]\n"),
        ("c", ""),
        ("d", "depends_on: [b]\n"),
    ]
)


def _ended(build, outcomes: dict[str, str]):
    """``build`` as it ended: each stage (and its steps) with the outcome ``outcomes`` names."""
    stages = []
    for stage in build.stages:
        status = outcomes[stage.name]
        steps = [
            dataclasses.replace(step, status=status, started=100.0 + step.number, finished=150.0)
            for step in stage.steps
        ]
        stages.append(
            dataclasses.replace(stage, status=status, started=100.0, finished=150.0, steps=steps)
        )
    worst = FAILURE if FAILURE in outcomes.values() else SUCCESS
    return dataclasses.replace(build, status=worst, finished=150.0, stages=stages)


@pytest.fixture
def hub(tmp_path):
    services = make_services(tmp_path)
    yield services
    close_services(services)


@pytest.fixture
def failed_build(hub, tmp_path):
    origin = Origin(tmp_path / "origin")
    sha = origin.commit({".drone.yml": FOUR_STAGES}, "four stages")
    repo = hub.stores.repos.create("acme/app", forge="github", clone_url=origin.url)
    first = hub.triggerer.trigger(repo, push_event(sha))
    ended = _ended(first, {"a": SUCCESS, "b": FAILURE, "c": SUCCESS, "d": SKIPPED})
    return repo, ended


def test_the_failed_stage_and_what_depends_on_it_run_again_the_rest_is_carried(hub, failed_build):
    repo, first = failed_build
    actor = hub.stores.users.create("ada", password="long-enough-1")
    again = build_actions.rerun_failed(hub, repo, first, actor)

    assert again.number == first.number + 1 and again.parent == first.number
    assert again.commit == first.commit and again.event == "push" and again.sender == "ada"
    stages = {s.name: s for s in again.stages}
    assert {n: s.status for n, s in stages.items()} == {
        "a": SUCCESS,
        "b": PENDING,
        "c": SUCCESS,
        "d": PENDING,
    }
    carried = {step.name: step for step in stages["a"].steps}
    earlier = {step.name: step for step in first.stages[0].steps}
    assert {n: (s.status, s.started) for n, s in carried.items()} == {
        n: (SUCCESS, s.started) for n, s in earlier.items()
    }
    assert all(step.status == PENDING for step in stages["b"].steps)
    (entry,) = [e for e in hub.stores.audit.matching(limit=10) if e.kind == "build.rerun"]
    assert entry.actor == "ada"
    assert entry.message.startswith(f"build #{again.number} re-runs the failed stages of #1: b, d")


def test_a_running_build_or_one_without_a_failed_stage_is_refused(hub, failed_build):
    repo, first = failed_build
    actor = hub.stores.users.create("ada", password="long-enough-1")
    running = dataclasses.replace(first, status="running", finished=0.0)
    with pytest.raises(Conflict, match="still running"):
        build_actions.rerun_failed(hub, repo, running, actor)
    fine = _ended(first, {"a": SUCCESS, "b": SUCCESS, "c": SUCCESS, "d": SUCCESS})
    with pytest.raises(Conflict, match="no failed stage"):
        build_actions.rerun_failed(hub, repo, fine, actor)
    # A killed stage counts as failed; an independent stage that succeeded is carried.
    killed = _ended(first, {"a": SUCCESS, "b": SUCCESS, "c": "killed", "d": SUCCESS})
    assert build_actions.stages_to_rerun(killed) == ["c"]
