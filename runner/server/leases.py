"""The lease reaper's sense of time: leases and timeouts that a wall-clock jump cannot fool.

Leases are stored as wall-clock instants (``lease_until``), because every server process and
the database must read them alike. A jump of the machine's clock (an NTP step, a VM resumed)
would make every lease renewed before it look expired at once, so the reaper reads both clocks
on each tick (``SteadyClock``): when the wall clock moved differently from the monotonic clock,
reaping holds for one lease period, in which live agents renew their leases on the new clock
and only stages whose agents are really gone stay expired. A backward jump would make leases
look longer than any agent asked for; they are cut back to one lease period.

How long a stage has run (for the repository's timeout) is measured on the monotonic clock of
this process from the moment the reaper first saw it running (``StageAges``); only that first
estimate reads the wall clock (the stage's start).
"""

from __future__ import annotations

import time
from collections.abc import Callable

JUMP_TOLERANCE = 2.0  # seconds wall and monotonic time may drift apart between two ticks


class SteadyClock:
    """Both clocks of this process, read together on each reaper tick.

    ``wall`` and ``monotonic`` are injectable for tests. Not thread-safe: one reaper owns it.
    """

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.wall = wall
        self.monotonic = monotonic
        self._last: tuple[float, float] | None = None

    def tick(self) -> tuple[float, float, float]:
        """``(wall, monotonic, jump)`` now; ``jump`` is how far the wall clock moved beyond
        (or behind, negative) the monotonic clock since the previous tick, 0 when it kept pace
        within ``JUMP_TOLERANCE``."""
        wall, mono = self.wall(), self.monotonic()
        jump = 0.0
        if self._last is not None:
            drift = (wall - self._last[0]) - (mono - self._last[1])
            if abs(drift) > JUMP_TOLERANCE:
                jump = drift
        self._last = (wall, mono)
        return wall, mono, jump


class StageAges:
    """How long each running stage has run, on the monotonic clock.

    A stage seen for the first time gets its age from the wall clock (``wall - started``, at
    least 0); from then on its age grows with the monotonic clock only.
    """

    def __init__(self) -> None:
        # (stage id, its start) -> (monotonic, age then): a requeued stage's next run, with
        # its new start, is a new run whose age starts again.
        self._seen: dict[tuple[int, float], tuple[float, float]] = {}

    def age(self, stage_id: int, started: float, wall: float, mono: float) -> float:
        """Seconds stage ``stage_id`` (started at wall time ``started``) has been running."""
        key = (stage_id, started)
        first = self._seen.get(key)
        if first is None:
            first = self._seen[key] = (mono, max(0.0, wall - started))
        return first[1] + (mono - first[0])

    def keep_only(self, runs: set[tuple[int, float]]) -> None:
        """Forget every run but ``runs`` (``(stage id, started)`` of the running stages)."""
        for key in set(self._seen) - runs:
            del self._seen[key]
