"""Whether the agent's engine can run stages now, and telling the server when it cannot.

An agent whose Docker engine is down must not take stages it can only fail: ``EngineHealth``
makes the engine on first need (removing what an interrupted run left behind once it answers),
pings it before a claim and after one (at most every ``RECHECK`` seconds, so a busy agent does
not pay a round trip per stage), and while it cannot be reached, probes it again with a capped
backoff. Each change is reported to the server (``report(reason)``; ``""`` when healthy), which
shows the reason in its agent list; while unhealthy the report is repeated, so the agent still
counts as connected. When the engine answers again the agent recovers on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from runner.engine.base import Engine

log = logging.getLogger(__name__)

FIRST_RETRY = 1.0  # seconds before the engine is probed again after a failure; doubles
MAX_RETRY = 30.0
REPORT_EVERY = 10.0  # seconds between repeated reports of an unhealthy engine
RECHECK = 2.0  # seconds a successful ping counts as current


class EngineHealth:
    """The agent's engine and whether it answers. Thread-safe.

    ``factory()`` makes the engine (it may raise when the engine is unreachable);
    ``report(reason)`` tells the server (any error it raises is logged and retried later);
    ``on_first(engine)`` runs once, when the engine first answers (cleanup of leftovers).
    """

    def __init__(
        self,
        factory: Callable[[], Engine],
        report: Callable[[str], None],
        *,
        on_first: Callable[[Engine], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._report = report
        self._on_first = on_first
        self._clock = clock
        self._lock = threading.Lock()
        self.engine: Engine | None = None
        self.reason = "not checked yet"
        self._next_probe = 0.0
        self._ok_at: float | None = None  # when the engine last answered
        self._delay = FIRST_RETRY
        self._reported: str | None = None
        self._reported_at = 0.0

    def check(self) -> str:
        """``""`` when the engine answers (it did within ``RECHECK`` seconds, or does now),
        else why not. While backing off after a failure, the last reason is returned without
        a probe."""
        with self._lock:
            now = self._clock()
            if not self.reason and self._ok_at is not None and now - self._ok_at < RECHECK:
                return ""
            if self.reason and now < self._next_probe:
                self._tell_server(now)
                return self.reason
            reason = self._probe()
            if reason:
                if reason != self.reason:
                    log.warning("engine unavailable, not taking stages: %s", reason)
                self._next_probe = now + self._delay
                self._delay = min(self._delay * 2, MAX_RETRY)
            else:
                if self.reason:
                    log.info("engine available, taking stages")
                self._delay = FIRST_RETRY
                self._ok_at = now
            self.reason = reason
            self._tell_server(now)
            return reason

    def _probe(self) -> str:
        try:
            if self.engine is None:
                engine = self._factory()
                if self._on_first is not None:
                    self._on_first(engine)
                self.engine = engine
            self.engine.ping()
            return ""
        except Exception as exc:  # any failure to reach the engine makes the agent unhealthy
            return str(exc) or type(exc).__name__

    def _tell_server(self, now: float) -> None:
        """Report a changed state, and an unhealthy one again every ``REPORT_EVERY`` s."""
        changed = self.reason != self._reported
        if not changed and not (self.reason and now - self._reported_at >= REPORT_EVERY):
            return
        try:
            self._report(self.reason)
        except Exception as exc:  # the server may be away too: tell it at the next check
            log.warning("could not report the engine's health: %s", exc)
            return
        self._reported, self._reported_at = self.reason, now
