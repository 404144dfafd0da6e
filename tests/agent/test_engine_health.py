"""The agent's engine health as logic, on an injected clock (the real engine going away and
coming back is tests/security/test_docker_down.py): an engine that cannot be made or pinged
makes the agent unhealthy with the reason, probes back off up to a cap, every change reaches
the server (and an unhealthy state is repeated), leftovers are removed once, and the agent
recovers when the engine answers."""

from __future__ import annotations

from runner.agent import health
from runner.agent.health import EngineHealth
from runner.errors import EngineError


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Engine:
    def __init__(self):
        self.up = True

    def ping(self) -> None:
        if not self.up:
            raise EngineError("cannot reach the Docker engine: connection refused")


class World:
    """An engine that can be unreachable at creation, and what the server was told."""

    def __init__(self, reachable: bool):
        self.reachable = reachable
        self.made = 0
        self.engine = Engine()
        self.reports: list[str] = []
        self.cleanups = 0
        self.clock = Clock()
        self.health = EngineHealth(
            self.factory, self.reports.append, on_first=self.cleanup, clock=self.clock
        )

    def factory(self) -> Engine:
        self.made += 1
        if not self.reachable:
            raise EngineError("cannot reach the Docker engine: no such socket")
        return self.engine

    def cleanup(self, engine) -> None:
        self.cleanups += 1


def test_an_engine_that_cannot_be_made_makes_the_agent_unhealthy_with_the_reason():
    world = World(reachable=False)
    assert "no such socket" in world.health.check()
    assert world.reports == [world.health.reason]
    assert world.cleanups == 0


def test_probes_back_off_up_to_a_cap_and_the_reason_is_repeated_to_the_server():
    world = World(reachable=False)
    world.health.check()
    for _ in range(200):  # checks once a second for 200 s
        world.clock.now += 1
        assert world.health.check()
    assert 5 <= world.made <= 15  # 1, 2, 4, 8, 16, 30, 30 ... s apart, not 200 probes
    assert len(world.reports) >= 200 // health.REPORT_EVERY


def test_the_agent_recovers_and_says_so_once_the_engine_answers():
    world = World(reachable=False)
    world.health.check()
    world.reachable = True
    world.clock.now += health.MAX_RETRY
    assert world.health.check() == ""
    assert world.reports[-1] == ""
    assert world.cleanups == 1
    assert world.health.engine is world.engine


def test_an_engine_that_stops_answering_is_noticed_and_leftovers_are_removed_once():
    world = World(reachable=True)
    assert world.health.check() == ""
    world.engine.up = False
    assert world.health.check() == ""  # a ping a moment ago still counts
    world.clock.now += health.RECHECK
    assert "connection refused" in world.health.check()
    world.engine.up = True
    world.clock.now += health.MAX_RETRY
    assert world.health.check() == ""
    assert world.cleanups == 1 and world.made == 1
    assert world.reports == ["", world.reports[1], ""]
