"""Prometheus metrics of one server process: ``GET /metrics`` and the observations behind it.

Each application has its own ``Metrics`` (its own ``CollectorRegistry``, in
``services.extras["metrics"]``), so several applications in one test process never share or
collide. Two kinds of family:

- observed where events happen, in this process: webhook and agent RPC requests (timed by the
  app-wide hooks of ``init_metrics``), log writes (the RPC log upload), stage claims with their
  queue wait, builds created (``Triggerer.trigger``) and stages ended by their agents;
- read from the database at scrape time (``runner.server.metrics_census``): builds and stages by
  status, the queue by label set, the agents' load. These are the same on every process of a
  cluster.

The server is one gunicorn worker process with threads; ``prometheus_client`` is thread-safe, and
no multiprocess mode is needed. Several server processes each serve their own counters: scrape
each of them (see docs/server.md, "Metrics and health").

Who may read: ``Authorization: Bearer <metrics_token>`` (the setting, when set) or a server
admin's API token. No session cookie is read, so the endpoint needs no CSRF token and sets no
cookie. Missing credentials: 401; a token of anyone but an admin: 403.
"""

from __future__ import annotations

import hmac
import os
import socket
import time
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from runner import __version__
from runner.errors import RunnerError, Unauthorized
from runner.server.auth import require_admin
from runner.server.services import Services, current_services

if TYPE_CHECKING:
    from runner.core import Stage

metrics_bp = Blueprint("metrics", __name__)

# A metrics token shorter than this is refused at start: it guards what repositories do.
METRICS_TOKEN_MIN = 16
# Request latencies: from a millisecond (a heartbeat) to a minute (a claim's long-poll).
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LOG_WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
# Queue waits: from a claim that found its stage at once to a stage that waited hours.
WAIT_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
# The blueprints whose requests are timed, with the histogram each goes to.
_TIMED = {"hooks": "webhook", "rpc": "rpc"}

# A ``_created`` timestamp beside every counter doubles the series and no dashboard reads it.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """The metric families of one server process. Every method is thread-safe and cheap (a
    few microseconds): they sit on the claim, log-upload and webhook paths."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.webhook = Histogram(
            "runner_webhook_request_duration_seconds",
            "Webhook deliveries (POST /hook/...) by HTTP status, and the time to answer them.",
            ["code"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.rpc = Histogram(
            "runner_rpc_request_duration_seconds",
            "Agent RPC calls by call and HTTP status, and the time to answer them "
            "(claim includes its long-poll wait).",
            ["call", "code"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.log_write = Histogram(
            "runner_log_write_duration_seconds",
            "Log batches uploaded by agents, and the time to store and publish each.",
            buckets=LOG_WRITE_BUCKETS,
            registry=registry,
        )
        self.log_bytes = Counter(
            "runner_log_written_bytes",
            "Log bytes stored from agents' uploads (resends of a stored batch not counted).",
            registry=registry,
        )
        self.queue_wait = Histogram(
            "runner_stage_queue_wait_seconds",
            "Stages claimed by agents, and how long each had waited since it was queued "
            "(its build created; a requeued stage counts from then too).",
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.builds_created = Counter(
            "runner_builds_created",
            "Builds created, by origin (hook, api, cron, restart, rerun, promote).",
            ["origin"],
            registry=registry,
        )
        self.stages_finished = Counter(
            "runner_stages_finished",
            "Stages whose agent reported their end, by final status.",
            ["status"],
            registry=registry,
        )
        self.stages_taken_back = Counter(
            "runner_stages_taken_back",
            "Running stages taken from their agent: requeued or failed when its lease ran out, "
            "timed_out by the server, handed_back by the agent itself.",
            ["action"],
            registry=registry,
        )
        info = Gauge(
            "runner_server_info",
            "This server process: its version and process (host:pid); always 1.",
            ["version", "process"],
            registry=registry,
        )
        info.labels(__version__, f"{socket.gethostname()}:{os.getpid()}").set(1)
        ProcessCollector(registry=registry)

    def observe_request(self, blueprint: str, call: str, code: int, seconds: float) -> None:
        """A webhook or RPC request answered with ``code`` after ``seconds``."""
        if _TIMED.get(blueprint) == "webhook":
            self.webhook.labels(str(code)).observe(seconds)
        else:
            self.rpc.labels(call, str(code)).observe(seconds)

    def observe_log_write(self, size: int, seconds: float, stored: bool) -> None:
        """A log batch of ``size`` bytes written in ``seconds`` (``stored`` False: a resend)."""
        self.log_write.observe(seconds)
        if stored:
            self.log_bytes.inc(size)

    def observe_claim(self, stage: Stage, now: float | None = None) -> None:
        """A stage was claimed: its wait since it was queued."""
        waited = (time.time() if now is None else now) - float(stage.created or 0.0)
        self.queue_wait.observe(max(waited, 0.0))

    def render(self) -> bytes:
        """The exposition text of every family."""
        return generate_latest(self.registry)


def metrics_of(services: Services) -> Metrics:
    """The ``Metrics`` of a server's services (made on first use, for parts run without an
    application, such as unit tests of the triggerer)."""
    found: Metrics | None = services.extras.get("metrics")
    if found is None:
        found = services.extras.setdefault("metrics", Metrics())
    return found


def init_metrics(app: Flask, services: Services) -> Metrics:
    """Give the application its metrics: the census of the store at scrape time, and the
    timing of webhook and RPC requests (app-wide hooks: blueprints are shared between
    applications, their hooks would be too). Refuses a ``metrics_token`` that is too short."""
    from runner.server.metrics_census import StoreCollector

    token = services.settings.metrics_token
    if token and len(token) < METRICS_TOKEN_MIN:
        raise RunnerError(
            f"RUNNER_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN} characters; "
            "make one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    metrics = metrics_of(services)
    metrics.registry.register(StoreCollector(services.db))

    @app.before_request
    def _start_clock() -> None:
        if request.blueprint in _TIMED:
            g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None:
            endpoint = (request.endpoint or "").rpartition(".")[2]
            seconds = time.perf_counter() - started
            code = response.status_code
            metrics.observe_request(request.blueprint or "", endpoint, code, seconds)
        return response

    return metrics


@metrics_bp.get("/metrics")
def scrape() -> Response:
    """The Prometheus exposition of this process (see the module docstring for who may)."""
    services = current_services()
    _authorise(services)
    body = metrics_of(services).render()
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _authorise(services: Services) -> None:
    """Let in the metrics token or a server admin's API token; 401 or 403 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise Unauthorized(
            "send `Authorization: Bearer <token>`: the server's metrics_token, or an API token "
            "of a server admin"
        )
    expected = services.settings.metrics_token
    if expected and hmac.compare_digest(raw.encode(), expected.encode()):
        return
    require_admin()
