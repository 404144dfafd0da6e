"""The token buckets behind the webhook rate limits: a burst of the limit passes, the next
request waits for the refill (Retry-After in whole seconds), keys are independent, 0 means no
limit. Logic only, on a fake clock; tests/security/test_webhook_input.py proves the 429s."""

from __future__ import annotations

from runner.server.ratelimit import RateLimiter


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_the_limit_passes_then_waits_for_the_refill():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    assert [limiter.take("a", 6) for _ in range(6)] == [0] * 6
    assert limiter.take("a", 6) == 10  # one token every 10 s
    assert limiter.take("b", 6) == 0  # another key has its own bucket
    clock.now += 10
    assert limiter.take("a", 6) == 0
    assert limiter.take("a", 6) == 10


def test_zero_is_no_limit_and_a_lowered_limit_applies_at_once():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    assert all(limiter.take("a", 0) == 0 for _ in range(1000))
    assert limiter.take("a", 120) == 0
    assert limiter.take("a", 1) == 0
    assert limiter.take("a", 1) == 60


def test_idle_buckets_are_dropped_full():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    for _ in range(3):
        limiter.take("a", 3)
    assert limiter.take("a", 3) > 0
    clock.now += 600
    limiter.take("other", 3)  # sweeps
    assert "a" not in limiter._buckets
    assert [limiter.take("a", 3) for _ in range(3)] == [0, 0, 0]


def test_wait_answers_like_take_without_spending():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    assert [limiter.wait("a", 2) for _ in range(5)] == [0] * 5
    assert [limiter.take("a", 2) for _ in range(2)] == [0, 0]
    assert limiter.wait("a", 2) == 30
    assert limiter.wait("a", 2) == 30  # asking again spends nothing either
    clock.now += 30
    assert limiter.wait("a", 2) == 0
    assert limiter.take("a", 2) == 0
