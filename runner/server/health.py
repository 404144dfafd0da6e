"""Health endpoints for load balancers and orchestrators; open to anyone, and cheap.

- ``GET /healthz`` (liveness): 200 ``{"status": "ok"}`` whenever the process answers HTTP. It
  reads no database: a database outage must not get every server process restarted.
- ``GET /readyz`` (readiness): 200 ``{"status": "ready"}`` when the database answers a trivial
  query (the migration revision) within ``READY_TIMEOUT`` seconds and that revision is the
  newest this server knows; otherwise 503 ``{"status": "not ready", "reason": ...}`` with one of
  the ``REASONS`` words, never a database message. A stopping server is not ready either, so a
  load balancer drains it.

Both are plain short requests: they pass no admission gate (``runner.server.admission``),
read no session and need no CSRF token. ``/readyz`` keeps its answer for
``READY_CACHE_SECONDS`` and runs at most one database check at a time, however many probes
arrive: a flood of anonymous probes costs the database at most one query per interval, and a
database that hangs holds one thread of its own; probes wait for the check no longer than its
timeout and then answer at once, so they cannot take the request threads either.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Blueprint, Response, jsonify

from runner.server.services import Services, current_services
from runner.store.census import CensusStore
from runner.store.db import Database, head_revision

log = logging.getLogger(__name__)

health_bp = Blueprint("health", __name__)

READY_TIMEOUT = 2.0  # seconds the database has to answer a readiness check
READY_CACHE_SECONDS = 1.0  # an answer is reused this long
NOT_MIGRATED = "database not migrated"
OLD_SCHEMA = "database schema not at head"
UNREACHABLE = "database unreachable"
SLOW = "database did not answer in time"
STOPPING = "shutting down"
REASONS = (NOT_MIGRATED, OLD_SCHEMA, UNREACHABLE, SLOW, STOPPING)
_NO_STORE = {"Cache-Control": "no-store"}


def migration_head() -> str:
    """The newest migration revision of this server's code (read from the migration files,
    without loading Alembic into the server)."""
    return head_revision()


class ReadinessProbe:
    """Whether the database answers and is at ``head``; thread-safe (see the module docstring
    for its bounds). ``check()`` returns ``""`` when ready, else a reason of ``REASONS``."""

    def __init__(
        self,
        db: Database,
        head: str,
        *,
        timeout: float = READY_TIMEOUT,
        cache_seconds: float = READY_CACHE_SECONDS,
    ):
        self.census = CensusStore(db)
        self.head = head
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._answer: str | None = None
        self._answered_at = 0.0
        self._running: threading.Event | None = None
        self._started_at = 0.0

    def check(self) -> str:
        """The current answer: reused while fresh, else from one database check shared with
        every caller meanwhile, or ``SLOW`` once that check has run longer than the timeout.
        A caller waits at most until the shared check's timeout, so a hanging database holds
        request threads for ``timeout`` seconds at most, then none."""
        with self._lock:
            now = time.monotonic()
            if self._answer is not None and now - self._answered_at < self.cache_seconds:
                return self._answer
            done = self._running
            if done is None:
                done = self._running = threading.Event()
                self._started_at = now
                threading.Thread(
                    target=self._run, args=(done,), name="readiness-check", daemon=True
                ).start()
            left = self._started_at + self.timeout - now
        if left <= 0 or not done.wait(left):
            return SLOW
        with self._lock:
            return self._answer if self._answer is not None else SLOW

    def _run(self, done: threading.Event) -> None:
        try:
            revision = self.census.revision()
            answer = "" if revision == self.head else (OLD_SCHEMA if revision else NOT_MIGRATED)
        except Exception as exc:
            answer = UNREACHABLE
            log.warning("readiness: the database did not answer: %s", exc)
        with self._lock:
            if answer != self._answer and answer:
                log.warning("readiness: not ready: %s", answer)
            self._answer = answer
            self._answered_at = time.monotonic()
            self._running = None
        done.set()


def probe_of(services: Services) -> ReadinessProbe:
    """The readiness probe of a server's services, made on first use."""
    found: ReadinessProbe | None = services.extras.get("readiness")
    if found is None:
        probe = ReadinessProbe(services.db, migration_head())
        found = services.extras.setdefault("readiness", probe)
    return found


@health_bp.get("/healthz")
def healthz() -> tuple[Response, int, dict[str, str]]:
    """Liveness: the process answers."""
    return jsonify({"status": "ok"}), 200, _NO_STORE


@health_bp.get("/readyz")
def readyz() -> tuple[Response, int, dict[str, str]]:
    """Readiness: the database answers and is migrated to this server's head."""
    services = current_services()
    reason = STOPPING if services.stopping.is_set() else probe_of(services).check()
    if reason:
        return jsonify({"status": "not ready", "reason": reason}), 503, _NO_STORE
    return jsonify({"status": "ready"}), 200, _NO_STORE
