"""DeploymentStore: a build with a target gets its record with the build, the record follows
the claims (running; the agent of the latest claimed stage, also after a requeue), approvals
(approved_by) and the build's end (live, failed, cancelled, declined; the previous live
superseded), reports of deploy steps are kept at the end where they say the version is not
live, and the lists read newest first, paged."""

from __future__ import annotations

import pytest

from runner.core import BLOCKED, ERROR, FAILURE, KILLED, SUCCESS
from runner.store.deployments import final_state, version_of

from .helpers import make_build, make_stage


@pytest.fixture
def agent(stores):
    return stores.agents.create("deployer-1", labels={"env": "production"}, capacity=4)


def deploy_build(stores, repo, *, target="production", blocked=False, tag="", sender="alice"):
    stage = make_stage("deploy", status=BLOCKED if blocked else "pending")
    stage.spec.steps[-1].targets_environment = True  # a step for the environment (when: target)
    build = make_build(repo.id, stage)
    build.target = target
    build.tag = tag
    build.sender = sender
    if blocked:
        build.status = BLOCKED
    return stores.builds.create(build)


def only_record(stores, build):
    records = stores.deployments.of_build(build.id)
    assert len(records) == 1, records
    return records[0]


def run_to_end(stores, agent, build, status=SUCCESS):
    stage = stores.stages.claim(agent)
    assert stage is not None and stage.build_id == build.id
    for step in stores.steps.list_for_stage(stage.id):  # the agent reports each step's end
        stores.steps.update(step.id, status=status)
    return stores.stages.done(stage.id, status, agent_id=agent.id)


def test_a_build_with_a_target_gets_a_pending_record_named_by_branch_and_commit(stores, repo):
    build = deploy_build(stores, repo)
    record = only_record(stores, build)
    assert (record.environment, record.build_number, record.event) == ("production", 1, "push")
    assert record.state == "pending"
    assert record.version == "main@aaaaaaa"
    assert record.commit == "a" * 40 and record.sender == "alice"
    assert record.approved_by == [] and record.agent == "" and record.finished == 0.0


def test_a_tag_build_is_called_by_its_tag_and_waits_blocked_for_approval(stores, repo):
    record = only_record(stores, deploy_build(stores, repo, tag="v1.2.0", blocked=True))
    assert record.version == "v1.2.0"
    assert record.state == "blocked"


def test_builds_without_target_or_in_error_get_no_record(stores, repo):
    stores.builds.create(make_build(repo.id))
    broken = make_build(repo.id)
    broken.target, broken.status, broken.stages = "production", ERROR, []
    stores.builds.create(broken)
    assert stores.deployments.of_repo(repo.id) == []


def test_the_first_claim_makes_it_running_on_the_agent_and_success_makes_it_live(
    stores, repo, agent
):
    build = deploy_build(stores, repo)
    stage = stores.stages.claim(agent, now=1234.0)
    record = only_record(stores, build)
    assert (record.state, record.agent, record.started) == ("running", "deployer-1", 1234.0)
    for step in stores.steps.list_for_stage(stage.id):
        stores.steps.update(step.id, status=SUCCESS)
    stores.stages.done(stage.id, SUCCESS, agent_id=agent.id, now=1300.0)
    record = only_record(stores, build)
    assert (record.state, record.finished) == ("live", 1300.0)


def test_approvers_are_listed_and_release_the_record(stores, repo, agent):
    build = deploy_build(stores, repo, blocked=True)
    stores.builds.approve(build.id, "bob")
    record = only_record(stores, build)
    assert record.approved_by == ["bob"]
    assert record.state == "pending"
    run_to_end(stores, agent, build)
    assert only_record(stores, build).approved_by == ["bob"]


def test_a_declined_build_leaves_a_declined_record(stores, repo):
    build = deploy_build(stores, repo, blocked=True)
    stores.builds.decline(build.id, "bob")
    record = only_record(stores, build)
    assert record.state == "declined" and record.approved_by == [] and record.finished > 0


def test_a_cancelled_build_leaves_a_cancelled_record(stores, repo):
    build = deploy_build(stores, repo)
    stores.builds.cancel(build.id, actor="carol")
    assert only_record(stores, build).state == "cancelled"


def test_a_new_live_supersedes_the_old_and_a_failure_leaves_it_live(stores, repo, agent):
    first = deploy_build(stores, repo)
    run_to_end(stores, agent, first)
    failing = deploy_build(stores, repo)
    run_to_end(stores, agent, failing, FAILURE)
    assert only_record(stores, failing).state == "failed"
    assert only_record(stores, first).state == "live"
    second = deploy_build(stores, repo)
    run_to_end(stores, agent, second)
    assert only_record(stores, first).state == "superseded"
    assert only_record(stores, second).state == "live"
    other_env = deploy_build(stores, repo, target="staging")
    run_to_end(stores, agent, other_env)
    assert only_record(stores, second).state == "live"


def test_a_build_that_deploys_nothing_leaves_no_record_and_the_live_one_stays(stores, repo, agent):
    live = deploy_build(stores, repo)
    run_to_end(stores, agent, live)
    # A push the environment takes whose pipeline only tests: no step for the environment.
    tests_only = make_build(repo.id, make_stage("test"))
    tests_only.target = "production"
    tests_only = stores.builds.create(tests_only)
    assert only_record(stores, tests_only).state == "pending"  # it might deploy, until it ends
    run_to_end(stores, agent, tests_only)
    assert stores.deployments.of_build(tests_only.id) == []
    assert only_record(stores, live).state == "live"
    # A deploy step that stayed out of a successful build (when: status, paths) deployed
    # nothing either; one that a failing build never reached is a failed deployment.
    skipped = deploy_build(stores, repo)
    stage = stores.stages.claim(agent)
    stores.stages.done(stage.id, SUCCESS, agent_id=agent.id)  # its steps never ran
    assert stores.deployments.of_build(skipped.id) == []
    failing = deploy_build(stores, repo)
    stage = stores.stages.claim(agent)
    stores.stages.done(stage.id, FAILURE, agent_id=agent.id)
    assert only_record(stores, failing).state == "failed"
    assert only_record(stores, live).state == "live"


def test_the_record_names_the_agent_of_the_stage_that_deploys(stores, repo, agent):
    ship = make_stage("ship", number=1)
    ship.spec.steps[-1].targets_environment = True
    build = make_build(repo.id, ship, make_stage("notify", number=2, depends_on=["ship"]))
    build.target = "production"
    build = stores.builds.create(build)
    other = stores.agents.create("notifier", labels={"env": "production"})
    for runner in (agent, other):  # deployer-1 ships, then the notifier claims the last stage
        stage = stores.stages.claim(runner)
        for step in stores.steps.list_for_stage(stage.id):
            stores.steps.update(step.id, status=SUCCESS)
        stores.stages.done(stage.id, SUCCESS, agent_id=runner.id)
    record = only_record(stores, build)
    assert (record.state, record.agent) == ("live", "deployer-1")


def test_a_reported_canary_is_kept_at_the_end_and_the_old_live_stays(stores, repo, agent):
    live = deploy_build(stores, repo)
    run_to_end(stores, agent, live)
    canary = deploy_build(stores, repo)
    stage = stores.stages.claim(agent)
    report = {
        "state": "canary",
        "strategy": "canary",
        "traffic_share": 25,
        "image": "registry/app:1.3.0",
        "message": "1 of 4 replicas",
    }
    assert stores.deployments.report(canary.id, report)
    stores.stages.done(stage.id, SUCCESS, agent_id=agent.id)
    record = only_record(stores, canary)
    assert (record.state, record.traffic_share, record.strategy) == ("canary", 25, "canary")
    assert (record.image, record.message) == ("registry/app:1.3.0", "1 of 4 replicas")
    assert only_record(stores, live).state == "live"
    assert not stores.deployments.report(canary.id, {"state": "live"}), "ended: not written"


def test_the_final_state_keeps_what_says_the_version_is_not_live():
    assert final_state("success", "running") == "live"
    assert final_state("success", "live") == "live"
    assert final_state("success", "canary") == "canary"
    assert final_state("success", "aborted") == "aborted"
    assert final_state("failure", "aborted") == "aborted"
    assert final_state("failure", "running") == "failed"
    assert final_state("error", "running") == "failed"
    assert final_state("killed", "running") == "cancelled"
    assert final_state("killed", "aborted") == "cancelled"
    # What a deploy step left serving stays said: the new version, or a canary.
    assert final_state("failure", "live") == "live"
    assert final_state("killed", "live") == "live"
    assert final_state("killed", "canary") == "canary"
    assert final_state("declined", "blocked") == "declined"


def test_the_version_is_the_tag_or_branch_at_short_commit(stores, repo):
    build = make_build(repo.id)
    assert version_of(build) == "main@aaaaaaa"
    build.tag = "v2"
    assert version_of(build) == "v2"


def test_lists_are_newest_first_per_environment_and_paged(stores, repo, agent):
    made = [deploy_build(stores, repo, target=t) for t in ("test", "production", "test", "test")]
    records = stores.deployments.of_repo(repo.id)
    assert [r.build_id for r in records] == [b.id for b in reversed(made)]
    tests = stores.deployments.of_repo(repo.id, environment="test", limit=2)
    assert [r.build_id for r in tests] == [made[3].id, made[2].id]
    older = stores.deployments.of_repo(repo.id, environment="test", before=tests[-1].id)
    assert [r.build_id for r in older] == [made[0].id]


def test_a_promotion_shows_on_the_promoted_build(stores, repo, agent):
    source = stores.builds.create(make_build(repo.id))
    promoted = make_build(repo.id, event="promote")
    promoted.parent, promoted.target = source.number, "production"
    promoted = stores.builds.create(promoted)
    records = stores.deployments.of_build(source.id)
    assert [(r.build_number, r.environment, r.event) for r in records] == [
        (promoted.number, "production", "promote")
    ]
    assert stores.deployments.current(repo.id)[0].build_id == promoted.id
    # A restart of the promote names the promote as its parent: still a deploy of the source.
    again = make_build(repo.id, event="promote")
    again.parent, again.target = promoted.number, "production"
    again = stores.builds.create(again)
    records = stores.deployments.of_build(source.id)
    assert [r.build_number for r in records] == [promoted.number, again.number]


def test_the_record_names_the_agent_of_the_latest_claimed_stage(stores, repo, agent):
    build = make_build(repo.id, make_stage("build", number=1), make_stage("ship", number=2))
    build.target = "production"
    build = stores.builds.create(build)
    first = stores.stages.claim(agent, now=100.0)
    other = stores.agents.create("deployer-2", labels={"env": "production"})
    assert stores.stages.requeue(first.id, "agent lost")
    again = stores.stages.claim(other, now=200.0)
    record = only_record(stores, build)
    assert (record.agent, record.state, record.started) == ("deployer-2", "running", 100.0)
    stores.stages.done(again.id, SUCCESS, agent_id=other.id)
    stores.stages.claim(agent)
    assert only_record(stores, build).agent == "deployer-1"


def test_an_abort_in_a_later_build_ends_the_canary_an_earlier_one_left(stores, repo, agent):
    live = deploy_build(stores, repo)
    run_to_end(stores, agent, live)
    canary = deploy_build(stores, repo)
    stage = stores.stages.claim(agent)
    stores.deployments.report(canary.id, {"state": "canary", "traffic_share": 10})
    stores.stages.done(stage.id, SUCCESS, agent_id=agent.id)
    abort = deploy_build(stores, repo)
    stage = stores.stages.claim(agent)
    stores.deployments.report(abort.id, {"state": "aborted"})
    stores.stages.done(stage.id, FAILURE, agent_id=agent.id)
    assert only_record(stores, abort).state == "aborted"
    assert only_record(stores, canary).state == "canary-ended"
    assert only_record(stores, live).state == "live"


@pytest.mark.parametrize("end", ["failure", "cancel"])
def test_a_canary_left_by_a_build_that_failed_or_was_cancelled_stays_shown(
    stores, repo, agent, end
):
    # A smoke test after the canary step failed (or the build was cancelled) and no step
    # aborted it: <service>-canary still serves, so the record says so until it is replaced.
    live = deploy_build(stores, repo)
    run_to_end(stores, agent, live)
    canary = deploy_build(stores, repo)
    stage = stores.stages.claim(agent)
    stores.deployments.report(canary.id, {"state": "canary", "traffic_share": 25})
    if end == "cancel":
        stores.builds.cancel(canary.id, actor="carol")
    stores.stages.done(stage.id, FAILURE if end == "failure" else KILLED, agent_id=agent.id)
    assert only_record(stores, canary).state == "canary"
    assert {r.build_id for r in stores.deployments.current(repo.id)} == {live.id, canary.id}
    promoted = deploy_build(stores, repo)
    run_to_end(stores, agent, promoted)
    assert only_record(stores, canary).state == "canary-ended"
    assert only_record(stores, live).state == "superseded"
    assert [r.build_id for r in stores.deployments.current(repo.id)] == [promoted.id]


def _deploy_with_report(stores, repo, agent, commit, report, status=SUCCESS):
    stage = make_stage("deploy")
    stage.spec.steps[-1].targets_environment = True
    build = make_build(repo.id, stage)
    build.target, build.commit = "production", commit
    build = stores.builds.create(build)
    claimed = stores.stages.claim(agent)
    stores.deployments.report(build.id, report)
    stores.stages.done(claimed.id, status, agent_id=agent.id)
    return build


def test_a_new_canary_ends_the_one_before_and_no_canary_counts_as_once_live(stores, repo, agent):
    live = _deploy_with_report(stores, repo, agent, "1" * 40, {"state": "live"})
    first = _deploy_with_report(stores, repo, agent, "2" * 40, {"state": "canary"})
    second = _deploy_with_report(stores, repo, agent, "3" * 40, {"state": "canary"})
    assert only_record(stores, first).state == "canary-ended"
    assert {r.build_id for r in stores.deployments.current(repo.id)} == {live.id, second.id}
    _deploy_with_report(stores, repo, agent, "4" * 40, {"state": "live"})
    assert only_record(stores, second).state == "canary-ended"
    assert only_record(stores, live).state == "superseded"
    assert stores.deployments.was_live(repo.id, "production", "1" * 40)
    for canary_commit in ("2" * 40, "3" * 40):
        assert not stores.deployments.was_live(repo.id, "production", canary_commit)


def test_a_version_deployed_before_a_later_step_failed_is_live(stores, repo, agent):
    old = _deploy_with_report(stores, repo, agent, "1" * 40, {"state": "live"})
    # The deploy step went through, then a smoke test failed: the new version serves.
    new = _deploy_with_report(stores, repo, agent, "2" * 40, {"state": "live"}, FAILURE)
    assert only_record(stores, new).state == "live"
    assert only_record(stores, old).state == "superseded"
    # A deploy step that succeeded without a report deployed too.
    scripted = deploy_build(stores, repo)
    stage = stores.stages.claim(agent)
    for step in stores.steps.list_for_stage(stage.id):
        stores.steps.update(step.id, status=SUCCESS)
    stores.stages.done(stage.id, FAILURE, agent_id=agent.id)
    assert only_record(stores, scripted).state == "live"
    assert only_record(stores, new).state == "superseded"
