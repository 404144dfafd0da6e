"""The web UI: server-rendered pages over the same stores and services as the REST API.

``webui_bp`` is registered at ``/`` by ``runner.server.app.create_app``. Pages are Jinja
templates with plain CSS and a little plain JavaScript (no build step); live parts poll small
JSON views of this package and read the API's SSE log stream.
"""

from __future__ import annotations

from flask import Blueprint

webui_bp = Blueprint(
    "webui",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/ui/static",
)

from webui import csrf, session_auth, views_errors  # noqa: E402

csrf.init_blueprint(webui_bp)
session_auth.init_blueprint(webui_bp)
views_errors.init_blueprint(webui_bp)

from webui import (  # noqa: E402,F401  (modules register their routes on webui_bp)
    formatting,
    views_account,
    views_admin,
    views_badge,
    views_build,
    views_builds,
    views_config,
    views_deployments,
    views_events,
    views_login,
    views_new_build,
    views_roles,
    views_settings,
    views_settings_edit,
    views_theme,
)

__all__ = ["webui_bp"]
