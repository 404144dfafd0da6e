"""The Flask application factory.

``create_app(settings)`` opens and migrates the database, creates the admin on first start,
builds the ``Services`` (stores, live log, triggerer, queue wake-up, scheduler) and registers
the blueprints: hooks (``/hook``), the REST API (``/api/v1``), the agent RPC (``/rpc/v1``) and the
web UI (``/``). Errors become JSON in one place (``runner.server.errors``).
"""

from __future__ import annotations

import logging
import os
import secrets as _secrets
import sys

from flask import Flask

from runner.server.agents import issue_agent_token, register_agent
from runner.server.errors import register_error_handlers
from runner.server.services import Services, open_stores
from runner.settings import Settings

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
    if settings.embedded_agent:
        services.agent_token = _embedded_agent_token(services)
    services.triggerer = _make_triggerer(services)

    app = Flask("runner.server")
    app.secret_key = _session_key(settings)
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body_bytes, 8 * 1024 * 1024)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.extensions["runner"] = services
    register_error_handlers(app)
    _register_blueprints(app)
    if start_background:
        services.scheduler = _start_scheduler(app, services)
    return app


def _register_blueprints(app: Flask) -> None:
    from runner.server.api import api_bp
    from runner.server.hooks import hooks_bp
    from runner.server.rpc import rpc_bp
    from webui import webui_bp

    app.register_blueprint(hooks_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(rpc_bp, url_prefix="/rpc/v1")
    app.register_blueprint(webui_bp)


def _make_triggerer(services: Services):
    from runner.server.trigger import Triggerer

    return Triggerer(services)


def _start_scheduler(app: Flask, services: Services):
    from runner.server.scheduler import start_scheduler

    return start_scheduler(app, services)


def _ensure_admin(services: Services) -> None:
    """Create the ``admin`` account on first start; print its password once if generated."""
    users = services.stores.users
    if users.count():
        return
    password = services.settings.admin_password or _secrets.token_urlsafe(12)
    users.create("admin", password, is_admin=True)
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
    return path.read_bytes()
