"""Admission of long-lived requests, so that they never take the threads short requests need.

The server is one gunicorn ``gthread`` worker: every request, short or long, runs on a thread of
one pool. Two kinds of request stay open: live-log streams (SSE, for as long as a step runs) and
agents' long-polls (``/rpc/v1/claim``, up to a minute). Each kind gets threads of its own, added
to the pool on top of ``workers_threads``, and a ``Gate`` admits at most that many at once:

- live-log streams: ``live_streams_max`` in all (beyond: 503) and ``live_streams_per_user`` for
  one user (beyond: 429, and nobody else notices);
- claim waits: ``claim_waits_max`` long-polls parked at once (beyond: the claim answers 503 at
  once, and the agent polls again after ``Retry-After``).

So at least ``workers_threads`` threads always remain for the API, the web UI, webhooks and the
agents' short RPC calls (heartbeats, step updates, log uploads), however many viewers connect.
A refusal carries ``Retry-After``; the web UI then follows the log by polling (see log.js).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING

from runner.errors import Busy, TooManyRequests
from runner.settings import Settings

if TYPE_CHECKING:
    from runner.server.services import QueueSignal

# Seconds a refused caller is told to wait before trying again.
STREAM_RETRY_AFTER = 5
CLAIM_RETRY_AFTER = 1


def request_threads(settings: Settings) -> int:
    """The size of the worker's thread pool: the short requests' threads plus one per admitted
    long-lived request."""
    return settings.workers_threads + settings.live_streams_max + settings.claim_waits_max


class Ticket:
    """One admitted request's place; ``release`` when it ends (safe twice, from any thread)."""

    def __init__(self, gate: Gate, key: Hashable | None):
        self._gate = gate
        self._key = key
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._gate._leave(self._key)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Gate:
    """Counts the open requests of one kind, in all and per key, and refuses beyond the limits.

    Thread-safe. ``per_key`` 0 means no per-key limit.
    """

    def __init__(self, what: str, limit: int, *, per_key: int = 0, retry_after: int = 5):
        self.what = what
        self.limit = limit
        self.per_key = per_key
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._open = 0
        self._by_key: dict[Hashable, int] = {}

    def enter(self, key: Hashable | None = None) -> Ticket:
        """Admit one more request of ``key``, or raise ``TooManyRequests`` (the key holds its
        share) or ``Busy`` (the server holds as many as it serves)."""
        with self._lock:
            held = self._by_key.get(key, 0) if key is not None else 0
            if self.per_key and key is not None and held >= self.per_key:
                raise TooManyRequests(
                    f"you have {held} {self.what} open, the most one user may; close one or "
                    f"try again in {self.retry_after} s",
                    retry_after=self.retry_after,
                )
            if self._open >= self.limit:
                raise Busy(
                    f"the server has {self._open} {self.what} open, the most it serves at once; "
                    f"try again in {self.retry_after} s",
                    retry_after=self.retry_after,
                )
            self._open += 1
            if key is not None:
                self._by_key[key] = held + 1
        return Ticket(self, key)

    def try_enter(self, key: Hashable | None = None) -> Ticket | None:
        """``enter``, but None instead of an error when the request is not admitted."""
        try:
            return self.enter(key)
        except Busy:
            return None

    def open(self, key: Hashable | None = None) -> int:
        """How many are open now, in all or for ``key``."""
        with self._lock:
            return self._open if key is None else self._by_key.get(key, 0)

    def _leave(self, key: Hashable | None) -> None:
        with self._lock:
            self._open -= 1
            if key is not None:
                left = self._by_key.get(key, 1) - 1
                if left > 0:
                    self._by_key[key] = left
                else:
                    self._by_key.pop(key, None)


class Admission:
    """The gates of one server process, sized from the settings."""

    def __init__(self, settings: Settings):
        self.streams = Gate(
            "live log streams",
            settings.live_streams_max,
            per_key=settings.live_streams_per_user,
            retry_after=STREAM_RETRY_AFTER,
        )
        self.claim_waits = Gate(
            "agents waiting for work", settings.claim_waits_max, retry_after=CLAIM_RETRY_AFTER
        )

    def wait_for_work(self, queue: QueueSignal, generation: int, timeout: float) -> None:
        """Park an agent's long-poll on the queue signal, in a place of its own; raise ``Busy``
        when every place is taken (the caller has tried a claim already)."""
        ticket = self.claim_waits.try_enter()
        if ticket is None:
            raise Busy(
                "too many agents are waiting for work; poll again shortly",
                retry_after=self.claim_waits.retry_after,
            )
        with ticket:
            queue.wait(generation, timeout)
