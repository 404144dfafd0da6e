"""Calling again what failed for a passing reason: one helper for every retry of the runner.

``retry(call, retry_on=...)`` calls ``call`` until it returns, waiting a growing delay
(``Backoff``) after each failure of the kinds in ``retry_on``; any other exception propagates
at once. It stops and re-raises the last failure after ``attempts`` calls, or when
``give_up(delay)`` says so before a wait. ``wait`` is how the pause is spent: ``time.sleep``,
or a ``threading.Event.wait`` so that a stopping agent is not held up by it.

Written here rather than taken from tenacity: the five callers need one loop of a dozen lines,
and the agent and ``runner exec`` should not grow a dependency for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Delays in seconds: ``first``, then multiplied by ``factor`` up to ``cap`` (constant
    delays: ``factor=1``)."""

    first: float = 0.2
    factor: float = 2.0
    cap: float = 5.0

    def delays(self) -> Iterator[float]:
        """The endless sequence of delays, from ``first``."""
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.cap)


def retry(
    call: Callable[[], T],
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    attempts: int = 0,
    backoff: Backoff = Backoff(),
    wait: Callable[[float], Any] = time.sleep,
    give_up: Callable[[float], bool] | None = None,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> T:
    """``call()``'s result, calling it again after each ``retry_on`` failure.

    ``attempts`` > 0 limits the calls; 0 retries until ``give_up(next delay)`` is true (never,
    without ``give_up``). ``on_retry(exc, delay)`` is told of each failure retried (to log it).
    The last failure is re-raised when retrying stops.
    """
    calls = 0
    for delay in backoff.delays():
        calls += 1
        try:
            return call()
        except retry_on as exc:
            if (attempts and calls >= attempts) or (give_up is not None and give_up(delay)):
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            wait(delay)
    raise AssertionError("unreachable: Backoff.delays never ends")
