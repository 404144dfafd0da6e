"""What a claim may take beyond labels: the agent's registered capacity, its repositories and
environments; a claim whose answer never reached the agent is released uncounted; the audit
log keeps who changed what, newest first. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from runner.core import PENDING, RUNNING

from .helpers import make_build


def test_a_claim_never_takes_the_agent_past_its_capacity(stores, repo):
    agent = stores.agents.create("a", capacity=2)
    for _ in range(3):
        stores.builds.create(make_build(repo.id))
    assert stores.stages.claim(agent, capacity=2) is not None
    assert stores.stages.claim(agent, capacity=2) is not None
    assert stores.stages.claim(agent, capacity=2) is None
    other = stores.agents.create("b")
    assert stores.stages.claim(other, capacity=1) is not None  # the third stage was there


def test_an_agent_restricted_to_repositories_takes_only_theirs(stores, repo):
    other = stores.repos.create("other/app", forge="github", clone_url="file:///tmp/o.git")
    stores.builds.create(make_build(other.id))
    mine = stores.builds.create(make_build(repo.id))
    agent = stores.agents.create("a", allowed_repos=["acme/*"])
    assert stores.stages.claim(agent).build_id == mine.id
    assert stores.stages.claim(agent) is None


def test_an_agent_restricted_to_environments_takes_only_their_deploys(stores, repo):
    stores.builds.create(make_build(repo.id))
    deploy = stores.builds.create(dataclasses.replace(make_build(repo.id), target="production"))
    staging = stores.agents.create("s", allowed_environments=["staging"])
    assert stores.stages.claim(staging) is None
    prod = stores.agents.create("p", allowed_environments=["production"])
    assert stores.stages.claim(prod).build_id == deploy.id
    assert stores.stages.claim(prod) is None


def test_a_released_claim_is_pending_again_with_its_attempt_uncounted(stores, repo):
    stores.builds.create(make_build(repo.id))
    agent = stores.agents.create("a")
    stage = stores.stages.claim(agent)
    assert not stores.stages.release(stage.id, agent.id + 1)  # not the other agent's to release
    assert stores.stages.release(stage.id, agent.id)
    again = stores.stages.get(stage.id)
    assert (again.status, again.agent_id, again.attempts) == (PENDING, None, 0)
    assert not stores.stages.release(stage.id, agent.id)  # released once only
    retaken = stores.stages.claim(stores.agents.create("b"))
    assert (retaken.id, retaken.status, retaken.attempts) == (stage.id, RUNNING, 1)


def test_audit_log_lists_newest_first_by_subject(stores):
    stores.audit.record("agent.registered", "agent:a", "registered", "admin")
    stores.audit.record("agent.changed", "agent:b", "labels x → y", "alice")
    stores.audit.record("agent.changed", "agent:a", "capacity 1 → 2", "bob")
    entries = stores.audit.matching(subject="agent:a")
    assert [(e.kind, e.actor, e.message) for e in entries] == [
        ("agent.changed", "bob", "capacity 1 → 2"),
        ("agent.registered", "admin", "registered"),
    ]
    assert entries[0].created >= entries[1].created > 0
    assert [e.subject for e in stores.audit.matching(kind="agent.changed")] == [
        "agent:a",
        "agent:b",
    ]
