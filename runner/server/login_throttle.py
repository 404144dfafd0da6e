"""Login throttling: too many wrong passwords for one login from one client address, or from
one client address for any logins, and further attempts from there are refused (429 with
``Retry-After``) for a while, without checking them.

The login's count is kept per address on purpose: counted per login alone, five wrong passwords
from anywhere would lock the real user (an admin) out of their account for as long as a stranger
keeps trying.

Counts live in memory, per server process: a restart forgets them, which only gives an attacker
one more round at the price of a restart they cannot cause.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from runner.errors import RunnerError

# Wrong passwords in a row for one login from one address before its attempts are refused.
LOGIN_FAILURES = 5
# Wrong passwords from one client address (any logins) before its attempts are refused.
ADDRESS_FAILURES = 20
# How long a wrong password counts.
WINDOW_SECONDS = 15 * 60
# Keys remembered at most; the oldest are forgotten first, so memory stays bounded.
MAX_KEYS = 10_000


class LoginThrottled(RunnerError):
    """Too many wrong passwords: try again in ``retry_after`` seconds."""

    http_status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class LoginThrottle:
    """Failure counts per login and client address, and per client address. Thread-safe.

    Call ``check`` before verifying a password, then ``failed`` or ``succeeded``. A success
    clears the login's count (the limit is on wrong passwords in a row), not the address's.
    """

    def __init__(
        self,
        *,
        login_failures: int = LOGIN_FAILURES,
        address_failures: int = ADDRESS_FAILURES,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"login": login_failures, "address": address_failures}
        self._window = window
        self._clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(login: str, address: str) -> list[tuple[str, str]]:
        address = address or "?"
        return [("login", f"{login.strip().lower()}\n{address}"), ("address", address)]

    def check(self, login: str, address: str) -> None:
        """Raise ``LoginThrottled`` when the login or the address has used up its attempts."""
        now = self._clock()
        with self._lock:
            for key in self._keys(login, address):
                times = self._recent(key, now)
                if times is not None and len(times) >= self._limits[key[0]]:
                    wait = max(1, math.ceil(times[0] + self._window - now))
                    raise LoginThrottled(
                        f"too many wrong passwords for this {key[0]}; try again in {wait} s",
                        wait,
                    )

    def failed(self, login: str, address: str) -> None:
        """Count one wrong password for the login and the address."""
        now = self._clock()
        with self._lock:
            for key in self._keys(login, address):
                times = self._failures.pop(key, None) or deque()
                times.append(now)
                while len(times) > self._limits[key[0]]:
                    times.popleft()
                self._failures[key] = times
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, login: str, address: str) -> None:
        """The password was right: the login's wrong passwords are forgotten."""
        with self._lock:
            self._failures.pop(self._keys(login, address)[0], None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] + self._window <= now:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times
