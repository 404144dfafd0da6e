"""Login throttling as logic, on a clock the test moves: five wrong passwords in a row lock a
login from that address (never for the real user elsewhere), twenty lock an address, a right
password clears the login's count, the lock lifts when the window has passed, and memory stays
bounded."""

from __future__ import annotations

import pytest

from runner.server import login_throttle
from runner.server.login_throttle import LoginThrottle, LoginThrottled


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_sixth_attempt_after_five_wrong_passwords_is_refused_until_the_window_passes():
    clock = Clock()
    throttle = LoginThrottle(window=600, clock=clock)
    for _ in range(5):
        throttle.check("alice", "10.0.0.1")
        throttle.failed("alice", "10.0.0.1")
        clock.now += 10
    with pytest.raises(LoginThrottled) as caught:
        throttle.check("Alice", "10.0.0.1")  # same login in other case
    assert caught.value.http_status == 429 and caught.value.retry_after == 600 - 50
    throttle.check("alice", "10.0.0.2")  # the real user elsewhere is not locked out
    clock.now += 600 - 50
    throttle.check("alice", "10.0.0.1")


def test_a_right_password_clears_the_login_but_not_the_address():
    throttle = LoginThrottle(login_failures=3, address_failures=5, clock=Clock())
    for _ in range(3):
        throttle.failed("bob", "10.0.0.1")
    throttle.succeeded("bob", "10.0.0.1")
    throttle.check("bob", "10.0.0.1")
    for _ in range(2):
        throttle.failed("carol", "10.0.0.1")
    with pytest.raises(LoginThrottled, match="address"):
        throttle.check("dave", "10.0.0.1")


def test_remembered_keys_are_bounded(monkeypatch):
    monkeypatch.setattr(login_throttle, "MAX_KEYS", 10)
    throttle = LoginThrottle(clock=Clock())
    for number in range(50):
        throttle.failed(f"user{number}", f"10.0.0.{number}")
    assert len(throttle._failures) == 10
