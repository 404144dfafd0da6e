"""Stages taken from their agent are counted in `runner_stages_taken_back_total` by what
happened: requeued when the lease ran out, timed_out by the server (the lease reaper on an
injected clock and a real database, as in test_leases), handed_back by the agent."""

from __future__ import annotations

from runner.server.leases import SteadyClock
from runner.server.metrics import metrics_of
from runner.server.scheduler import Scheduler
from tests.server.conftest import auth, seed_build, user_token
from tests.server.test_leases import LEASE, FakeClock


def taken_back(services, action: str) -> float:
    registry = metrics_of(services).registry
    return registry.get_sample_value("runner_stages_taken_back_total", {"action": action}) or 0.0


def claimed(stores, repo, clock: FakeClock, name: str = "agent-1"):
    seed_build(stores, repo)
    agent = stores.agents.create(name)
    stage = stores.stages.claim(agent, lease_seconds=LEASE, now=clock.wall)
    assert stage is not None
    return stage, agent


def reaper(services, clock: FakeClock) -> Scheduler:
    services.settings.lease_seconds = LEASE
    scheduler = Scheduler(services)
    scheduler.clock = SteadyClock(lambda: clock.wall, lambda: clock.mono)
    return scheduler


def test_a_stage_whose_lease_ran_out_counts_as_requeued(services, stores, repo):
    clock = FakeClock()
    scheduler = reaper(services, clock)
    claimed(stores, repo, clock)
    assert scheduler.reap_leases() == 0
    assert taken_back(services, "requeued") == 0
    clock.advance(LEASE + 1)
    assert scheduler.reap_leases() == 1
    assert taken_back(services, "requeued") == 1


def test_a_stage_past_its_timeout_counts_as_timed_out(services, stores, repo):
    clock = FakeClock()
    scheduler = reaper(services, clock)
    stores.repos.update(repo.id, timeout=60)
    stage, agent = claimed(stores, repo, clock)
    for _ in range(60 + LEASE):
        clock.advance(1)
        stores.stages.renew_lease(stage.id, agent.id, lease_seconds=LEASE, now=clock.wall)
        scheduler.reap_leases()
    clock.advance(2)
    assert scheduler.reap_leases() == 1
    assert taken_back(services, "timed_out") == 1
    assert taken_back(services, "requeued") == 0


def test_a_stage_its_agent_hands_back_counts_as_handed_back(client, services, stores, repo):
    from runner.services.agents import issue_agent_token, register_agent

    seed_build(stores, repo)
    token = issue_agent_token(stores, register_agent(stores, "leaving", labels={}, capacity=1))
    stage = client.post("/rpc/v1/claim", headers=auth(token), json={"timeout": 0}).get_json()
    resp = client.post(
        f"/rpc/v1/stages/{stage['stage']['id']}/handback",
        headers=auth(token),
        json={"reason": "shutting down"},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert taken_back(services, "handed_back") == 1
    scraped = client.get("/metrics", headers=auth(user_token(stores, "admin")))
    assert 'runner_stages_taken_back_total{action="handed_back"} 1.0' in scraped.get_data(
        as_text=True
    )
