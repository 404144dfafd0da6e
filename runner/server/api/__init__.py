"""The REST API (``/api/v1``): JSON in and out, token or session auth, roles checked per call.

One module per resource: ``repos``, ``builds``, ``logs``, ``secrets``, ``registries``,
``crons``, ``users`` (users and tokens), ``agents`` and ``events`` (the event log). Each
registers its routes on ``api_bp``.
"""

from __future__ import annotations

from flask import Blueprint

api_bp = Blueprint("api", __name__)

from runner.server.api import (  # noqa: E402,F401  (modules register their routes)
    agents,
    builds,
    crons,
    deployments,
    environments,
    events,
    logs,
    registries,
    repo_admin,
    repos,
    secrets,
    stream,
    tokens,
    users,
)
