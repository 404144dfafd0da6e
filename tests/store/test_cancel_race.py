"""A build cancelled while a stage runs ends killed, even when the stage's agent reports a
failure because it had not yet heard of the cancel (a step failed before its next heartbeat)."""

from __future__ import annotations

import pytest

from runner.core import ERROR, FAILURE, KILLED, RUNNING, SUCCESS

from .helpers import make_build, make_stage


@pytest.fixture
def agent(stores):
    return stores.agents.create("agent-1", labels={}, capacity=2)


@pytest.mark.parametrize("reported", [FAILURE, ERROR, SUCCESS])
def test_cancelled_build_ends_killed_whatever_the_stage_reports(stores, repo, agent, reported):
    build = stores.builds.create(make_build(repo.id, make_stage("long", number=1)))
    stage = stores.stages.claim(agent)
    assert stores.builds.cancel(build.id, actor="alice").status == RUNNING

    final = stores.stages.done(stage.id, reported, agent_id=agent.id)
    assert final.status == KILLED
    assert stores.builds.get(build.id).status == KILLED
    assert final.stages[0].status == reported  # the stage keeps what its agent saw


def test_cancel_after_the_last_stage_ended_changes_nothing(stores, repo, agent):
    build = stores.builds.create(make_build(repo.id, make_stage("quick", number=1)))
    stage = stores.stages.claim(agent)
    assert stores.stages.done(stage.id, FAILURE, agent_id=agent.id).status == FAILURE
    assert stores.builds.cancel(build.id, actor="alice").status == FAILURE
