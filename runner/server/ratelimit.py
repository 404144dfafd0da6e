"""Request rate limits: a token bucket per key, in the memory of one server process.

``RateLimiter.take(key, per_minute)`` spends one token of ``key``'s bucket, which holds
``per_minute`` tokens and refills at ``per_minute`` a minute; it answers 0 when the request may
go on, else the seconds until a token is back (for ``Retry-After``). Limits are read at each
call, so a settings change applies at once. ``wait(key, per_minute)`` answers the same
without spending, for a request that is charged only when it turns out to be refused.
Thread-safe.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# Buckets unused this long are full again and dropped, so the table stays small.
IDLE_SECONDS = 120.0


class RateLimiter:
    """Token buckets by key (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, updated)
        self._lock = threading.Lock()
        self._swept = clock()

    def take(self, key: str, per_minute: int) -> int:
        """Spend a token of ``key``; 0 when allowed, else the seconds to wait. A limit of 0
        or less means no limit."""
        return self._spend(key, per_minute, 1.0)

    def wait(self, key: str, per_minute: int) -> int:
        """What ``take`` would answer, without spending a token."""
        return self._spend(key, per_minute, 0.0)

    def _spend(self, key: str, per_minute: int, cost: float) -> int:
        if per_minute <= 0:
            return 0
        rate = per_minute / 60.0
        with self._lock:
            now = self._clock()
            self._sweep(now)
            tokens, updated = self._buckets.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - updated) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - cost, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))

    def _sweep(self, now: float) -> None:
        if now - self._swept < IDLE_SECONDS:
            return
        self._swept = now
        for key, (_tokens, updated) in list(self._buckets.items()):
            if now - updated > IDLE_SECONDS:
                del self._buckets[key]
