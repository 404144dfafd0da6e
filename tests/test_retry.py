"""The one retry helper (runner.retry): what it retries, how long it waits, when it stops. The
paths that use it run for real in tests/agents/test_server_outage.py (log shipping, step
updates and claims across a server restart) and tests/engine (removal of stage resources)."""

from __future__ import annotations

import threading

import pytest

from runner.retry import Backoff, retry


class Flaky:
    """Fails with ``exc`` the first ``failures`` calls, then answers ``"ok"``."""

    def __init__(self, failures: int, exc: BaseException):
        self.failures = failures
        self.exc = exc
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return "ok"


def test_backoff_doubles_up_to_its_cap():
    delays = Backoff(first=0.2, cap=1.0).delays()
    assert [next(delays) for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    steady = Backoff(first=0.2, factor=1.0).delays()
    assert [next(steady) for _ in range(3)] == [0.2, 0.2, 0.2]


def test_retries_the_named_failures_waiting_each_delay():
    waits: list[float] = []
    told: list[float] = []
    call = Flaky(3, ConnectionError("down"))
    result = retry(
        call,
        retry_on=ConnectionError,
        wait=waits.append,
        on_retry=lambda exc, delay: told.append(delay),
    )
    assert (result, call.calls) == ("ok", 4)
    assert waits == told == [0.2, 0.4, 0.8]


def test_other_failures_propagate_at_once():
    call = Flaky(1, KeyError("no"))
    with pytest.raises(KeyError):
        retry(call, retry_on=ConnectionError, wait=lambda _d: None)
    assert call.calls == 1


def test_attempts_bound_the_calls_and_the_last_failure_is_raised():
    call = Flaky(10, ConnectionError("down"))
    with pytest.raises(ConnectionError):
        retry(call, retry_on=(ConnectionError, TimeoutError), attempts=3, wait=lambda _d: None)
    assert call.calls == 3


def test_give_up_stops_before_a_wait():
    stop = threading.Event()
    call = Flaky(10, ConnectionError("down"))

    def wait(delay: float) -> None:
        if call.calls == 2:
            stop.set()

    with pytest.raises(ConnectionError):
        retry(call, retry_on=ConnectionError, wait=wait, give_up=lambda _d: stop.is_set())
    assert call.calls == 3
