"""The lease reaper on an injected clock and a real database: a jump of the wall clock (forward or
back) takes no running stage from a live agent, a dead agent's stage is still taken back after
it, and a stage running past its repository's timeout is ended by the server on the monotonic
clock, whatever the wall clock does."""

from __future__ import annotations

import pytest

from runner.core import KILLED, PENDING, RUNNING
from runner.server.leases import SteadyClock
from runner.server.scheduler import Scheduler
from runner.store.stages import LEASE_OK
from tests.server.conftest import seed_build

LEASE = 30


class FakeClock:
    """A wall clock that can jump and a monotonic clock that cannot."""

    def __init__(self, wall: float = 1_000_000.0, mono: float = 50.0):
        self.wall, self.mono = wall, mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    def jump(self, seconds: float) -> None:
        self.wall += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def scheduler(services, clock):
    services.settings.lease_seconds = LEASE
    scheduler = Scheduler(services)
    scheduler.clock = SteadyClock(lambda: clock.wall, lambda: clock.mono)
    return scheduler


@pytest.fixture
def running(stores, repo, clock):
    """A running stage claimed now by ``agent-1``; (stage, agent)."""
    seed_build(stores, repo)
    agent = stores.agents.create("agent-1")
    stage = stores.stages.claim(agent, lease_seconds=LEASE, now=clock.wall)
    assert stage is not None
    return stage, agent


def renew(stores, running, clock) -> None:
    stage, agent = running
    answer = stores.stages.renew_lease(stage.id, agent.id, lease_seconds=LEASE, now=clock.wall)
    assert answer == LEASE_OK


def status(stores, running) -> str:
    return stores.stages.get(running[0].id).status


def test_without_a_jump_a_silent_agents_stage_is_taken_back(scheduler, stores, running, clock):
    assert scheduler.reap_leases() == 0
    clock.advance(LEASE + 1)
    assert scheduler.reap_leases() == 1
    assert status(stores, running) == PENDING


def test_a_forward_jump_takes_no_stage_from_a_live_agent(scheduler, stores, running, clock):
    assert scheduler.reap_leases() == 0
    clock.advance(5)
    renew(stores, running, clock)
    clock.jump(360)  # seen here: six minutes
    clock.advance(1)
    assert scheduler.reap_leases() == 0  # every lease looks 6 minutes old now
    for _ in range(2 * LEASE):  # the agent goes on renewing, once a second, on the new clock
        clock.advance(1)
        renew(stores, running, clock)
        assert scheduler.reap_leases() == 0
    assert status(stores, running) == RUNNING
    assert stores.stages.get(running[0].id).attempts == 1


def test_after_a_forward_jump_a_dead_agents_stage_is_still_taken_back(
    scheduler, stores, running, clock
):
    assert scheduler.reap_leases() == 0
    clock.jump(360)
    clock.advance(1)
    assert scheduler.reap_leases() == 0
    clock.advance(LEASE)
    assert scheduler.reap_leases() == 1
    assert status(stores, running) == PENDING


def test_a_backward_jump_does_not_hide_a_dead_agent_for_the_jumps_length(
    scheduler, stores, running, clock
):
    assert scheduler.reap_leases() == 0
    clock.jump(-600)
    clock.advance(1)
    assert scheduler.reap_leases() == 0
    assert stores.stages.get(running[0].id).lease_until == clock.wall + LEASE
    clock.advance(LEASE + 1)
    assert scheduler.reap_leases() == 1  # not ten minutes later
    assert status(stores, running) == PENDING


def test_the_server_ends_a_stage_its_agent_does_not_stop_at_the_timeout(
    scheduler, stores, repo, running, clock
):
    stores.repos.update(repo.id, timeout=60)
    # The agent keeps renewing its lease but never stops the stage.
    for _ in range(60 + LEASE):
        clock.advance(1)
        renew(stores, running, clock)
        assert scheduler.reap_leases() == 0
    clock.advance(2)
    assert scheduler.reap_leases() == 1
    stage = stores.stages.get(running[0].id)
    assert stage.status == KILLED
    assert stage.error.startswith("timed out after 60s")
    assert stores.builds.get(stage.build_id).status == KILLED


def test_a_wall_clock_jump_does_not_time_a_stage_out(scheduler, stores, repo, running, clock):
    stores.repos.update(repo.id, timeout=60)
    assert scheduler.reap_leases() == 0
    clock.jump(3600)
    for _ in range(LEASE):
        clock.advance(1)
        renew(stores, running, clock)
        assert scheduler.reap_leases() == 0
    assert status(stores, running) == RUNNING
