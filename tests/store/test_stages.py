"""StageStore: atomic claims (also under concurrency), labels, dependencies, leases, stage
ends."""

from __future__ import annotations

import threading

import pytest

from runner.core import (
    BLOCKED,
    DECLINED,
    ERROR,
    FAILURE,
    KILLED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCESS,
)
from runner.errors import Conflict, NotFound
from runner.store import LEASE_CANCEL, LEASE_LOST, LEASE_OK

from .helpers import make_build, make_stage


@pytest.fixture
def agent(stores):
    return stores.agents.create("agent-1", labels={"os": "linux"}, capacity=2)


def test_claim_hands_out_oldest_pending_stage_with_steps(stores, repo, agent):
    first = stores.builds.create(make_build(repo.id))
    stores.builds.create(make_build(repo.id))
    stage = stores.stages.claim(agent, lease_seconds=30, now=1000.0)
    assert stage.build_id == first.id
    assert stage.status == RUNNING
    assert stage.agent_id == agent.id
    assert stage.lease_until == 1030.0
    assert stage.attempts == 1
    assert [s.name for s in stage.steps] == ["clone", "test"]
    assert stage.spec.name == "default"
    assert stores.builds.get(first.id).status == RUNNING


def test_claim_returns_none_when_nothing_fits(stores, repo, agent):
    assert stores.stages.claim(agent) is None
    stores.builds.create(make_build(repo.id, make_stage("win", labels={"os": "windows"})))
    assert stores.stages.claim(agent) is None


def test_claim_respects_labels_and_required_labels(stores, repo):
    prod = stores.agents.create("prod", labels={"os": "linux", "!env": "production"})
    plain = stores.agents.create("plain", labels={"os": "linux"})
    stores.builds.create(make_build(repo.id, make_stage("build")))
    deploy_build = stores.builds.create(
        make_build(repo.id, make_stage("deploy", labels={"env": "production"}))
    )
    # The production agent skips the older unlabelled stage and takes the production one.
    taken = stores.stages.claim(prod)
    assert taken.build_id == deploy_build.id
    assert stores.stages.claim(prod) is None
    assert stores.stages.claim(plain).name == "build"


def test_dependent_stage_waits_for_its_dependency(stores, repo, agent):
    build = stores.builds.create(
        make_build(
            repo.id,
            make_stage("test", number=1),
            make_stage("deploy", number=2, depends_on=["test"]),
        )
    )
    first = stores.stages.claim(agent)
    assert first.name == "test"
    assert stores.stages.claim(agent) is None
    after = stores.stages.done(first.id, SUCCESS, agent_id=agent.id)
    assert after.status == RUNNING
    second = stores.stages.claim(agent)
    assert second.name == "deploy"
    done = stores.stages.done(second.id, SUCCESS, agent_id=agent.id)
    assert done.id == build.id
    assert done.status == SUCCESS
    assert done.finished > 0


def test_failed_dependency_skips_dependents_and_fails_build(stores, repo, agent):
    stores.builds.create(
        make_build(
            repo.id,
            make_stage("test", number=1),
            make_stage("deploy", number=2, depends_on=["test"]),
            make_stage("notify", number=3, depends_on=["deploy"]),
            make_stage("cleanup", number=4, depends_on=["test"], run_policy="always"),
        )
    )
    first = stores.stages.claim(agent)
    build = stores.stages.done(first.id, FAILURE, agent_id=agent.id)
    by_name = {s.name: s for s in build.stages}
    assert by_name["deploy"].status == SKIPPED
    assert by_name["notify"].status == SKIPPED
    assert all(step.status == SKIPPED for step in by_name["deploy"].steps)
    assert by_name["cleanup"].status == PENDING
    assert build.status == RUNNING
    cleanup = stores.stages.claim(agent)
    assert cleanup.name == "cleanup"
    build = stores.stages.done(cleanup.id, SUCCESS, agent_id=agent.id)
    assert build.status == FAILURE


def test_on_failure_stage_runs_only_after_a_failure(stores, repo, agent):
    stores.builds.create(
        make_build(
            repo.id,
            make_stage("test", number=1),
            make_stage("alert", number=2, depends_on=["test"], run_policy="on-failure"),
        )
    )
    first = stores.stages.claim(agent)
    build = stores.stages.done(first.id, SUCCESS, agent_id=agent.id)
    assert [s.status for s in build.stages] == [SUCCESS, SKIPPED]
    assert build.status == SUCCESS


def test_done_marks_unfinished_steps(stores, repo, agent):
    stores.builds.create(make_build(repo.id, make_stage("s", steps=("clone", "a", "b"))))
    stage = stores.stages.claim(agent)
    stores.steps.update(stage.steps[0].id, status=SUCCESS)
    stores.steps.update(stage.steps[1].id, status=RUNNING)
    build = stores.stages.done(stage.id, KILLED, agent_id=agent.id)
    assert [s.status for s in build.stages[0].steps] == [SUCCESS, KILLED, SKIPPED]
    assert build.status == KILLED


def test_done_by_another_agent_is_refused(stores, repo, agent):
    other = stores.agents.create("other")
    stores.builds.create(make_build(repo.id))
    stage = stores.stages.claim(agent)
    with pytest.raises(NotFound):
        stores.stages.done(stage.id, SUCCESS, agent_id=other.id)


def test_lease_renewal_expiry_and_requeue(stores, repo, agent):
    build = stores.builds.create(make_build(repo.id))
    stage = stores.stages.claim(agent, lease_seconds=10, now=100.0)
    stores.logs.append(stage.steps[0].id, 0, b"cloning\n")
    stores.steps.update(stage.steps[0].id, status=RUNNING, started=101.0)
    assert stores.stages.renew_lease(stage.id, agent.id, lease_seconds=10, now=105.0) == LEASE_OK
    assert stores.stages.expired(now=114.0) == []
    assert [s.id for s in stores.stages.expired(now=116.0)] == [stage.id]

    assert stores.stages.requeue(stage.id, "agent lost")
    again = stores.stages.get(stage.id)
    assert again.status == PENDING and again.agent_id is None
    assert all(s.status == PENDING and s.log_bytes == 0 for s in again.steps)
    assert list(stores.logs.iter_chunks(stage.steps[0].id)) == []
    assert [e.text for e in stores.events.of_build(build.id)] == ["requeued: agent lost"]
    # The old agent learns it lost the stage; a new claim starts over.
    assert stores.stages.renew_lease(stage.id, agent.id) == LEASE_LOST
    retaken = stores.stages.claim(agent)
    assert retaken.id == stage.id and retaken.attempts == 2
    assert not stores.stages.requeue(stage.id + 1000, "no such stage")


def test_fail_ends_stage_in_error_with_reason(stores, repo, agent):
    stores.builds.create(
        make_build(repo.id, make_stage("a", number=1), make_stage("b", number=2, depends_on=["a"]))
    )
    stage = stores.stages.claim(agent)
    build = stores.stages.fail(stage.id, "agent lost")
    assert build.stages[0].status == ERROR
    assert build.stages[0].error == "agent lost"
    assert build.stages[1].status == SKIPPED
    assert build.status == ERROR
    assert stores.stages.fail(stage.id, "again") is None


def test_cancel_kills_pending_and_asks_running_to_stop(stores, repo, agent):
    build = stores.builds.create(
        make_build(repo.id, make_stage("a", number=1), make_stage("b", number=2, depends_on=["a"]))
    )
    stage = stores.stages.claim(agent)
    cancelled = stores.builds.cancel(build.id, actor="alice")
    assert cancelled.status == RUNNING
    assert cancelled.stages[1].status == KILLED
    assert stores.stages.renew_lease(stage.id, agent.id) == LEASE_CANCEL
    final = stores.stages.done(stage.id, KILLED, agent_id=agent.id)
    assert final.status == KILLED
    assert [e.text for e in stores.events.of_build(build.id)] == ["cancelled"]


def test_cancel_of_queued_build_finishes_it(stores, repo):
    build = stores.builds.create(make_build(repo.id))
    assert stores.builds.cancel(build.id).status == KILLED


def test_blocked_build_waits_for_approval(stores, repo, agent):
    build = stores.builds.create(make_build(repo.id, make_stage("deploy", status=BLOCKED)))
    stores.builds.update(build.id, status=BLOCKED)
    assert stores.stages.claim(agent) is None
    approved = stores.builds.approve(build.id, "alice", "ship it")
    assert approved.status == PENDING
    assert stores.stages.claim(agent).name == "deploy"
    with pytest.raises(Conflict):
        stores.builds.approve(build.id, "alice")
    assert [(a.login, a.decision) for a in stores.approvals.of_build(build.id)] == [
        ("alice", "approved")
    ]


def test_declined_build_ends_declined(stores, repo, agent):
    build = stores.builds.create(make_build(repo.id, make_stage("deploy", status=BLOCKED)))
    stores.builds.update(build.id, status=BLOCKED)
    declined = stores.builds.decline(build.id, "bob", "not now")
    assert declined.status == DECLINED
    assert stores.stages.claim(agent) is None


@pytest.mark.parametrize("threads", [8])
def test_concurrent_claims_never_hand_a_stage_out_twice(stores, repo, threads):
    total = 40
    for _ in range(total // 2):
        stores.builds.create(
            make_build(repo.id, make_stage("a", number=1), make_stage("b", number=2))
        )
    agents = [stores.agents.create(f"agent-{i}") for i in range(threads)]
    claimed: list[list[int]] = [[] for _ in agents]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(i):
        try:
            start.wait()
            while True:
                stage = stores.stages.claim(agents[i])
                if stage is None:
                    return
                assert stage.agent_id == agents[i].id
                claimed[i].append(stage.id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    assert errors == []
    everything = [sid for ids in claimed for sid in ids]
    assert len(everything) == total
    assert len(set(everything)) == total
    assert stores.stages.pending() == []
    # Every claim is recorded for the agent that got it.
    for agent, ids in zip(agents, claimed, strict=True):
        assert sorted(s.id for s in stores.stages.running_for(agent.id)) == sorted(ids)


def test_agents_claiming_logging_and_finishing_at_once(stores, repo):
    """The server's real mix: claims, log uploads, step updates and stage ends in parallel."""
    builds = [
        stores.builds.create(
            make_build(
                repo.id,
                make_stage("test", number=1),
                make_stage("deploy", number=2, depends_on=["test"]),
            )
        )
        for _ in range(6)
    ]
    agents = [stores.agents.create(f"worker-{i}") for i in range(4)]
    errors: list[BaseException] = []

    def work(agent):
        try:
            idle = 0
            while idle < 3:
                stage = stores.stages.claim(agent)
                if stage is None:
                    idle += 1
                    stores.stages.expired()
                    continue
                idle = 0
                for step in stage.steps:
                    stores.steps.update(step.id, status=RUNNING)
                    for seq in range(5):
                        stores.logs.append(step.id, seq, [f"{step.name} line {seq}"] * 50)
                    stores.steps.update(step.id, status=SUCCESS, exit_code=0)
                    stores.stages.renew_lease(stage.id, agent.id)
                stores.stages.done(stage.id, SUCCESS, agent_id=agent.id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(a,)) for a in agents]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    assert errors == []
    for build in builds:
        final = stores.builds.get(build.id)
        assert final.status == SUCCESS
        for stage in final.stages:
            for step in stage.steps:
                raw = b"".join(stores.logs.iter_raw(step.id)).decode()
                assert raw.count("\n") == 250


def test_deploy_lock_lets_one_build_deploy_at_a_time(stores, repo, agent):
    stores.environments.create(repo.id, "production", lock=True)
    first, second = (make_build(repo.id) for _ in range(2))
    first.target = second.target = "production"
    first = stores.builds.create(first)
    second = stores.builds.create(second)
    taken = stores.stages.claim(agent)
    assert taken.build_id == first.id
    assert stores.environments.find(repo.id, "production").locked_by == first.id
    assert stores.stages.claim(agent) is None  # the second build waits for the lock
    stores.stages.done(taken.id, SUCCESS, agent_id=agent.id)
    assert stores.stages.claim(agent).build_id == second.id


def test_agent_scoped_to_a_repository_takes_only_its_stages(stores, repo):
    other = stores.repos.create("acme/other")
    stores.builds.create(make_build(other.id))
    mine = stores.builds.create(make_build(repo.id))
    scoped = stores.agents.create("scoped", labels={"repo": "acme/app"})
    assert stores.stages.claim(scoped).build_id == mine.id
    assert stores.stages.claim(scoped) is None
