"""Repositories, cron jobs, agents, environments, webhook deliveries and build history."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from sqlalchemy import select

from runner.core import SUCCESS
from runner.errors import BadRequest, Conflict, NotFound
from runner.store import Cipher, Stores
from runner.store.models import RepoRow

from .helpers import make_build, make_stage


def test_repositories(stores):
    repo = stores.repos.create("acme/api", forge="gitea", clone_url="https://git/acme/api.git")
    assert len(repo.webhook_secret) >= 32
    assert (repo.owner, repo.name) == ("acme", "api")
    assert stores.repos.get_by_slug("acme/api") == repo
    assert stores.repos.find("acme/none") is None
    updated = stores.repos.update(repo.id, trusted=True, timeout=600, pipeline_path=".ci.yml")
    assert (updated.trusted, updated.timeout, updated.pipeline_path) == (True, 600, ".ci.yml")
    with pytest.raises(Conflict):
        stores.repos.create("acme/api")
    with pytest.raises(BadRequest):
        stores.repos.create("no-slash")
    with pytest.raises(BadRequest):
        stores.repos.create("acme/x", forge="svn")
    with pytest.raises(BadRequest):
        stores.repos.update(repo.id, slug="other/name")
    assert [r.slug for r in stores.repos.matching()] == ["acme/api"]
    assert stores.repos.matching(ids=[]) == []
    stores.repos.delete(repo.id)
    with pytest.raises(NotFound):
        stores.repos.get(repo.id)


def test_cron_jobs(stores, repo):
    cron = stores.crons.create(repo.id, "nightly", "0 3 * * *", branch="main")
    assert stores.crons.find(repo.id, "nightly") == cron
    with pytest.raises(Conflict):
        stores.crons.create(repo.id, "nightly", "0 4 * * *")
    stores.crons.update(cron.id, enabled=False)
    assert stores.crons.matching(enabled_only=True) == []
    assert stores.crons.mark_run(cron.id, 1234.0).last_run == 1234.0
    stores.crons.delete(cron.id)
    assert stores.crons.matching(repo.id) == []


def test_agents(stores):
    agent = stores.agents.create("edge-1", labels={"os": "linux"}, capacity=4)
    assert stores.agents.find("edge-1") == agent
    touched = stores.agents.touch(agent.id, running=2, version="1.0")
    assert touched.last_contact > 0 and touched.running == 2 and touched.version == "1.0"
    with pytest.raises(Conflict):
        stores.agents.create("edge-1")
    stores.agents.delete(agent.id)
    assert stores.agents.all_agents() == []


def test_environments_match_by_position_and_patterns(stores, repo):
    envs = stores.environments
    prod = envs.create(
        repo.id,
        "production",
        tags=["v*"],
        labels={"env": "production"},
        approval_required=True,
        lock=True,
        position=1,
    )
    envs.create(repo.id, "staging", branches=["main", "release/*"], position=2)
    envs.create(repo.id, "review", events=["pull_request"], position=0)
    assert envs.match(repo.id, event="tag", tag="v1.2.0").name == "production"
    assert envs.match(repo.id, event="push", branch="release/2").name == "staging"
    assert envs.match(repo.id, event="pull_request", branch="feature").name == "review"
    assert envs.match(repo.id, event="push", branch="feature") is None
    assert [e.name for e in envs.of_repo(repo.id)] == ["review", "production", "staging"]
    assert envs.find(repo.id, "production") == prod
    with pytest.raises(Conflict):
        envs.create(repo.id, "production")


def test_deploy_lock_is_held_by_one_build_until_it_ends(stores, repo):
    # The lock the claim takes (runner.store.gates.take_lock) and the build's end releases.
    env = stores.environments.create(repo.id, "production", lock=True)
    agent = stores.agents.create("a", capacity=8)

    def deploy(*stages):
        build = make_build(repo.id, *stages)
        return stores.builds.create(dataclasses.replace(build, target="production"))

    first = deploy(make_stage("one"), make_stage("two", number=2))
    second = deploy()
    other = stores.builds.create(make_build(repo.id))  # deploys nowhere
    taken = [stores.stages.claim(agent), stores.stages.claim(agent)]
    assert {s.build_id for s in taken} == {first.id}  # the holder takes its lock again
    assert stores.environments.get(env.id).locked_by == first.id
    plain = stores.stages.claim(agent)
    assert plain.build_id == other.id  # the second deploy waits, other work goes on
    assert stores.stages.claim(agent) is None
    stores.stages.done(plain.id, SUCCESS, agent_id=agent.id)  # not the holder: no effect
    assert stores.environments.get(env.id).locked_by == first.id
    stores.stages.done(taken[0].id, SUCCESS, agent_id=agent.id)
    assert stores.environments.get(env.id).locked_by == first.id  # the build has not ended
    stores.stages.done(taken[1].id, SUCCESS, agent_id=agent.id)
    assert stores.environments.get(env.id).locked_by is None
    assert stores.stages.claim(agent).build_id == second.id
    assert stores.environments.get(env.id).locked_by == second.id


def test_hook_deliveries_drop_replays_even_when_concurrent(stores, repo):
    results: list[bool] = []
    lock = threading.Lock()

    def deliver():
        first = stores.hook_deliveries.record(repo.id, "delivery-1")
        with lock:
            results.append(first)

    pool = [threading.Thread(target=deliver) for _ in range(6)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    assert sorted(results) == [False] * 5 + [True]
    build = stores.builds.create(make_build(repo.id))
    stores.hook_deliveries.set_build(repo.id, "delivery-1", build.id)
    assert stores.hook_deliveries.get(repo.id, "delivery-1").build_id == build.id
    other = stores.repos.create("acme/other")
    assert stores.hook_deliveries.record(other.id, "delivery-1")  # ids are per repository
    stores.hook_deliveries.forget(repo.id, "delivery-1")
    assert stores.hook_deliveries.record(repo.id, "delivery-1")
    assert stores.hook_deliveries.purge_before(10**12) == 2


def test_build_history(stores, repo):
    build = stores.builds.create(make_build(repo.id))
    stores.events.add(build.id, "promoted", "promoted to production", actor="alice")
    history = stores.events.of_build(build.id)
    assert [(e.kind, e.message, e.actor) for e in history] == [
        ("promoted", "promoted to production", "alice")
    ]


def test_forge_token_is_encrypted_at_rest(db, stores):
    repo = stores.repos.create("acme/status", forge="gitea", forge_token="gitea-token-123")
    with db.session() as s:
        stored = s.scalar(select(RepoRow.forge_token).where(RepoRow.id == repo.id))
    assert "gitea-token-123" not in stored
    assert repo.forge_token == "gitea-token-123"
    assert stores.repos.get(repo.id).forge_token == "gitea-token-123"
    updated = stores.repos.update(repo.id, forge_token="rotated-456")
    assert updated.forge_token == "rotated-456"
    assert stores.repos.find("acme/status").forge_token == "rotated-456"


def test_forge_token_under_a_lost_key_reads_as_empty(db, stores):
    stores.repos.create("acme/status", forge_token="gitea-token-123")
    other = Stores(db, cipher=Cipher.generate())
    assert other.repos.get_by_slug("acme/status").forge_token == ""
