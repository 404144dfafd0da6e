"""Cancel wins over every way the server takes a stage back from its agent: a requeue (lease
reaper, hand-back), the release of a claim whose answer never reached its agent, or a failure
by policy of a cancelled build's stage ends it ``killed`` with the reason in the history; a
stage past its timeout is ended ``killed`` by the server; running stages are read with their
repository's timeout, and leases can be cut back."""

from __future__ import annotations

import pytest

from runner.core import ERROR, KILLED, PENDING, RUNNING, SKIPPED

from .helpers import make_build, make_stage


@pytest.fixture
def agent(stores):
    return stores.agents.create("agent-1", labels={}, capacity=2)


def _cancelled_running(stores, repo, agent):
    build = stores.builds.create(make_build(repo.id, make_stage("long", number=1)))
    stage = stores.stages.claim(agent)
    assert stores.builds.cancel(build.id, actor="alice").status == RUNNING
    return build, stage


def _kinds(stores, build_id):
    return [e.kind for e in stores.events.of_build(build_id)]


def test_a_cancelled_stage_is_killed_instead_of_requeued(stores, repo, agent):
    build, stage = _cancelled_running(stores, repo, agent)
    assert stores.stages.requeue(stage.id, "agent 1 stopped renewing its lease", actor="reaper")
    after = stores.stages.get(stage.id)
    assert after.status == KILLED
    assert "cancelled" in after.error and "stopped renewing its lease" in after.error
    assert [s.status for s in after.steps] == [SKIPPED, SKIPPED]
    assert stores.builds.get(build.id).status == KILLED
    assert "requeued" not in _kinds(stores, build.id)
    assert "killed" in _kinds(stores, build.id)
    assert stores.stages.claim(agent) is None  # nothing to take again


def test_a_claim_released_after_its_build_was_cancelled_ends_killed_and_never_runs(
    stores, repo, agent
):
    """Claim, cancel, then the agent's connection closes before the answer reached it: the
    release must not put the cancelled stage back in the queue for another agent."""
    build, stage = _cancelled_running(stores, repo, agent)
    other = stores.agents.create("agent-2", labels={}, capacity=2)
    assert not stores.stages.release(stage.id, other.id)  # not the other agent's claim
    assert stores.stages.release(stage.id, agent.id)
    after = stores.stages.get(stage.id)
    assert after.status == KILLED
    assert "cancelled" in after.error and "claim never reached the agent" in after.error
    assert stores.builds.get(build.id).status == KILLED
    assert "killed" in _kinds(stores, build.id)
    assert stores.stages.claim(other) is None and stores.stages.claim(agent) is None
    assert not stores.stages.release(stage.id, agent.id)  # settled once only


def test_a_released_claim_of_a_build_not_cancelled_is_pending_again(stores, repo, agent):
    stores.builds.create(make_build(repo.id, make_stage("a", number=1)))
    stage = stores.stages.claim(agent)
    assert stores.stages.release(stage.id, agent.id)
    assert stores.stages.get(stage.id).status == PENDING
    assert stores.stages.claim(agent).id == stage.id


def test_a_cancelled_stage_failed_by_policy_ends_killed(stores, repo, agent):
    build, stage = _cancelled_running(stores, repo, agent)
    assert stores.stages.fail(stage.id, "agent lost", actor="reaper").status == KILLED
    assert stores.stages.get(stage.id).status == KILLED


def test_a_stage_not_cancelled_is_still_requeued_or_failed(stores, repo, agent):
    stores.builds.create(make_build(repo.id, make_stage("a", number=1)))
    stage = stores.stages.claim(agent)
    assert stores.stages.requeue(stage.id, "agent lost")
    assert stores.stages.get(stage.id).status == PENDING
    stage = stores.stages.claim(agent)
    assert stores.stages.fail(stage.id, "agent lost").status == ERROR


def test_the_server_ends_a_stage_past_its_timeout_killed(stores, repo, agent):
    build = stores.builds.create(make_build(repo.id, make_stage("slow", number=1)))
    stage = stores.stages.claim(agent)
    ended = stores.stages.time_out(stage.id, "timed out after 15s", actor="timeout")
    assert ended.status == KILLED
    assert stores.stages.get(stage.id).error == "timed out after 15s"
    assert "timed-out" in _kinds(stores, build.id)
    assert stores.stages.time_out(stage.id, "again") is None  # only a running stage


def test_running_stages_are_read_with_their_repository_timeout(stores, repo, agent):
    stores.repos.update(repo.id, timeout=15)
    stores.builds.create(make_build(repo.id, make_stage("a", number=1)))
    stage = stores.stages.claim(agent, now=1000.0)
    assert stores.stages.running_clocks() == [(stage.id, 1000.0, 15)]


def test_leases_longer_than_asked_are_cut_back(stores, repo, agent):
    stores.builds.create(make_build(repo.id, make_stage("a", number=1)))
    stage = stores.stages.claim(agent, lease_seconds=30, now=1000.0)
    assert stores.stages.cap_leases(1040.0) == 0
    assert stores.stages.cap_leases(1010.0) == 1
    assert stores.stages.get(stage.id).lease_until == 1010.0
