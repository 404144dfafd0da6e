"""Claims honour agent scope (repo/event labels), required labels and the deploy lock."""

from __future__ import annotations

from runner.core import Build
from runner.pipeline.spec import CloneSpec, StageSpec, StepSpec
from runner.services.agents import register_agent
from runner.store import stage_from_spec


def seed(stores, repo, *, event="push", target="", labels=None) -> Build:
    spec = StageSpec(
        name="deploy",
        clone=CloneSpec(disable=True),
        labels=dict(labels or {}),
        steps=[StepSpec(name="s", image="runner-test/busybox", commands=["true"])],
    )
    build = Build(
        id=0, repo_id=repo.id, number=0, event=event, target=target, stages=[stage_from_spec(spec)]
    )
    return stores.builds.create(build)


def test_agent_scoped_to_repos_and_events_takes_only_those(stores):
    acme = stores.repos.create("acme/app", clone_url="file:///x")
    other = stores.repos.create("other/app", clone_url="file:///x")
    seed(stores, other)
    push = seed(stores, acme)
    tag = seed(stores, acme, event="tag")
    agent = register_agent(stores, "scoped", labels={"repo": "acme/*", "event": "tag"}, capacity=1)
    claimed = stores.stages.claim(agent)
    assert claimed.build_id == tag.id
    assert stores.stages.claim(agent) is None
    anyone = register_agent(stores, "anyone", labels={}, capacity=1)
    assert {stores.stages.claim(anyone).build_id, stores.stages.claim(anyone).build_id} == {
        push.stages[0].build_id,
        stores.builds.page_of_repo(other.id)[0].id,
    }


def test_required_label_keeps_production_agent_to_production_work(stores):
    repo = stores.repos.create("acme/app", clone_url="file:///x")
    seed(stores, repo, labels={"env": "test"})
    prod_build = seed(stores, repo, labels={"env": "production"})
    prod = register_agent(
        stores, "prod", labels={"env": "production", "!env": "production"}, capacity=1
    )
    assert stores.stages.claim(prod).build_id == prod_build.id
    assert stores.stages.claim(prod) is None


def test_deploy_lock_lets_one_build_deploy_at_a_time_in_order(stores):
    repo = stores.repos.create("acme/app", clone_url="file:///x")
    env = stores.environments.create(repo.id, "production", lock=True)
    first = seed(stores, repo, target="production")
    second = seed(stores, repo, target="production")
    agent = register_agent(stores, "a", labels={}, capacity=4)
    stage = stores.stages.claim(agent)
    assert stage.build_id == first.id
    assert stores.environments.get(env.id).locked_by == first.id
    assert stores.stages.claim(agent) is None  # the second waits for the lock
    stores.stages.done(stage.id, "success", agent_id=agent.id)
    assert stores.environments.get(env.id).locked_by is None
    assert stores.stages.claim(agent).build_id == second.id
