"""The colour theme control of the page header: system, light or dark, kept per user.

The choice is stored with the user (``runner.services.users.set_theme``) and applied by
``base.html`` when a page is rendered (``<html data-theme>``), so no page shows the wrong theme
first; visitors who are not logged in follow the browser's setting.
"""

from __future__ import annotations

from flask import redirect, request
from flask.typing import ResponseReturnValue

from runner.services import users as user_actions
from webui import data, webui_bp
from webui.session_auth import login_required, safe_next, signed_in_user


@webui_bp.route("/preferences/theme", methods=["POST"])
@login_required
def set_theme() -> ResponseReturnValue:
    """Store the theme picked in the header (400 for another value) and go back to the page."""
    user_actions.set_theme(data.stores(), signed_in_user(), request.form.get("theme"))
    return redirect(safe_next(request.form.get("next")))
