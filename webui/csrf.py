"""CSRF protection for every form of the web UI.

One random token per session (``session["csrf"]``), put in each form as a hidden field
``csrf_token`` by the ``csrf_field()`` template global, and checked on every state-changing
request that reaches the blueprint. A missing or wrong token answers 400 with a page that says
to reload the form; the comparison is constant-time. The same token, sent as the
``X-CSRF-Token`` header, lets the pages' scripts make unsafe ``/api/v1`` calls with the session
cookie (``runner.server.auth``).
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, request, session
from markupsafe import Markup, escape

from runner.server.auth import CSRF_HEADER as HEADER
from runner.server.auth import SAFE_METHODS, csrf_matches

FIELD = "csrf_token"


def csrf_token() -> str:
    """The session's token, created on first use."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_field() -> Markup:
    """The hidden input carrying the token, for inclusion in every form."""
    return Markup('<input type="hidden" name="%s" value="%s">') % (FIELD, escape(csrf_token()))


def check_csrf() -> None:
    """Abort with 400 unless an unsafe request carries the session's token (form or header)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not csrf_matches(sent):
        abort(
            400,
            description="the form's security token is missing or stale; reload the page and retry",
        )


def init_blueprint(bp: Blueprint) -> None:
    """Check the token before every view of ``bp`` and expose the template globals."""
    bp.before_request(check_csrf)
    bp.add_app_template_global(csrf_field, "csrf_field")
    bp.add_app_template_global(csrf_token, "csrf_token")
