"""The Flask application factory.

``create_app(settings)`` opens and migrates the database, creates the admin on first start,
builds the ``Services`` (stores, live log, triggerer, queue wake-up, scheduler) and registers
the blueprints: hooks (``/hook``), the REST API (``/api/v1``), the agent RPC (``/rpc/v1``), the
web UI (``/``), and ``/metrics``, ``/healthz`` and ``/readyz`` (``runner.server.metrics``,
``runner.server.health``). Errors become JSON in one place (``runner.server.errors``). Every
response carries the security headers of ``_security_headers``; the session cookie is ``Secure``
when the server's public URL is https.
"""

from __future__ import annotations

import logging
import os
import secrets as _secrets
import sys
from typing import TYPE_CHECKING

from flask import Flask, Response, request

from runner.errors import BadRequest, Conflict, RunnerError
from runner.private_files import private_file
from runner.server.errors import register_error_handlers
from runner.server.services import Services, open_stores
from runner.services.agents import issue_agent_token, register_agent
from runner.services.users import check_password_rule
from runner.settings import Settings

if TYPE_CHECKING:
    from runner.server.scheduler import Scheduler
    from runner.server.trigger import Triggerer

log = logging.getLogger(__name__)

EMBEDDED_AGENT_NAME = "embedded"


def create_app(settings: Settings, *, start_background: bool = True) -> Flask:
    """Build the application for ``settings``.

    With ``start_background`` the scheduler (cron, lease reaper, log retention) starts now; the
    embedded agent is started by ``runner.server.serve`` once the HTTP server listens, because it
    reaches the server over HTTP like any remote agent.
    """
    from runner.server.livelog import LiveLog

    stores = open_stores(settings)
    services = Services(settings=settings, db=stores.db, stores=stores, livelog=LiveLog())
    _ensure_admin(services)
    sealed = stores.repos.seal_stored()
    if sealed:
        log.info("encrypted the webhook secrets and forge tokens of %d repositories", sealed)
    if settings.embedded_agent:
        services.agent_token = _embedded_agent_token(services)
    services.triggerer = _make_triggerer(services)

    app = Flask("runner.server")
    app.secret_key = _session_key(settings)
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body_bytes, 8 * 1024 * 1024)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Over https a browser must never send the session cookie in clear text.
    app.config["SESSION_COOKIE_SECURE"] = settings.effective_server_url().startswith("https://")
    app.extensions["runner"] = services
    app.after_request(_security_headers)
    register_error_handlers(app)
    _register_blueprints(app)
    _init_metrics(app, services)
    if start_background:
        services.scheduler = _start_scheduler(app, services)
        _start_change_watcher(app, services)
        if services.db.is_postgres:
            _start_cluster_signals(services)
    return app


def _start_cluster_signals(services: Services) -> None:
    """Share queue wake-ups, live log chunks and build changes with the other server processes
    on the same PostgreSQL database (``runner.server.cluster``)."""
    from runner.server.cluster import ClusterSignals, postgres_conninfo

    cluster = ClusterSignals(
        postgres_conninfo(services.settings.effective_database_url()),
        services.queue,
        services.livelog,
        services.stores,
    )
    cluster.on_state(services.changes.bump)
    watcher = services.extras.get("change_watcher")
    if watcher is not None:
        cluster.on_state(watcher.notify)
    services.db.on_state_commit(cluster.state_committed)
    services.livelog.relay = cluster
    services.cluster = cluster
    cluster.start()


def _start_change_watcher(app: Flask, services: Services) -> None:
    """Turn the database's build, stage and step writes into events for live viewers."""
    from runner.server.changes import ChangeWatcher
    from webui.live_state import build_state

    watcher = ChangeWatcher(services.changes, services.stores, build_state)
    services.db.on_state_commit(watcher.notify)
    services.extras["change_watcher"] = watcher
    watcher.start(app.app_context)


def _register_blueprints(app: Flask) -> None:
    from runner.server.api import api_bp
    from runner.server.health import health_bp
    from runner.server.hooks import hooks_bp
    from runner.server.metrics import metrics_bp
    from runner.server.rpc import rpc_bp
    from webui import webui_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(hooks_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(rpc_bp, url_prefix="/rpc/v1")
    app.register_blueprint(webui_bp)


# Paths whose JSON may hold tokens, webhook secrets or logs: no cache keeps a copy.
_NO_STORE_PREFIXES = ("/api/", "/rpc/")


def _security_headers(response: Response) -> Response:
    """Headers on every answer: no MIME sniffing, no framing, no referrer to other sites; API
    and RPC answers are never cached. The web UI adds its Content-Security-Policy."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(_NO_STORE_PREFIXES):
        headers.setdefault("Cache-Control", "no-store")
    return response


def _init_metrics(app: Flask, services: Services) -> None:
    """``/metrics`` reads the store, webhook and RPC requests are timed (``metrics``); the
    readiness probe of ``/readyz`` knows the newest migration (``health``)."""
    from runner.server.health import probe_of
    from runner.server.metrics import init_metrics

    init_metrics(app, services)
    probe_of(services)  # reads the migration scripts once, at start rather than at a probe


def _make_triggerer(services: Services) -> Triggerer:
    from runner.server.trigger import Triggerer

    return Triggerer(services)


def _start_scheduler(app: Flask, services: Services) -> Scheduler:
    from runner.server.scheduler import start_scheduler

    return start_scheduler(app, services)


def _ensure_admin(services: Services) -> None:
    """Create the ``admin`` account on first start; print its password once if generated."""
    users = services.stores.users
    if users.count():
        return
    password = services.settings.admin_password or _secrets.token_urlsafe(12)
    try:
        check_password_rule(password, is_admin=True)
    except BadRequest as exc:
        raise RunnerError(f"RUNNER_ADMIN_PASSWORD is too short: {exc}") from None
    try:
        users.create("admin", password, is_admin=True)
    except Conflict:
        return  # another server process on the same database made it a moment ago
    if not services.settings.admin_password:
        print(
            f"pipeline-runner: created user 'admin' with password {password} "
            "(shown once; change it with `runner user passwd admin`)",
            file=sys.stderr,
            flush=True,
        )


def _embedded_agent_token(services: Services) -> str:
    """Register the embedded agent and give it a fresh token, revoking its older ones."""
    settings = services.settings
    name = settings.agent_name or EMBEDDED_AGENT_NAME
    # The server's settings are the admin's configuration: they are the agent's registration.
    agent = register_agent(
        services.stores,
        name,
        labels=settings.agent_labels,
        capacity=settings.agent_capacity,
        actor="server settings",
    )
    return issue_agent_token(services.stores, agent, replace=True)


def _session_key(settings: Settings) -> bytes:
    """The key signing session cookies: from settings, else a file kept in the data dir."""
    if settings.secret_key:
        return ("session:" + settings.secret_key).encode()
    path = settings.data_path / "session.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(_secrets.token_bytes(32))
    private_file(path)
    return path.read_bytes()
