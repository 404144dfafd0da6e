"""Error pages of the web UI: 400, 403, 404, 405, 429, 500... in the site's frame.

A page of the UI that fails (a repository the user cannot read, a build that does not exist, a
stale form) and an address that matches no route at all answer the same page: the site's
header and navigation, what went wrong and where to go next. Paths of the API, the agent RPC
and the webhooks keep answering JSON (``runner.server.errors``, which calls
:func:`error_page` through ``app.extensions[ERROR_PAGE]`` for everything else).
"""

from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, default_exceptions

from runner.errors import RunnerError, Unauthorized
from runner.server.errors import ERROR_PAGE
from webui.session_auth import CSP, page_user

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    401: "Log in first",
    403: "Not allowed",
    404: "Page not found",
    405: "Not possible here",
    409: "Conflict",
    413: "Too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Busy",
}

ADVICE = {
    403: "Your account does not have the role this needs. A repository admin can give it.",
    404: "The address may be mistyped, or the page was removed, or it is not visible to you.",
    429: "Wait a moment, then try again.",
    500: "The server log has the details.",
}


def error_page(
    code: int, message: str, headers: dict[str, str] | None = None
) -> ResponseReturnValue:
    """The error page for ``code`` with ``message`` (escaped like all text of the pages).

    Safe to call outside the blueprint (unmatched addresses): the user is read here, not from
    the blueprint's context processor. A failure to render (a broken database behind a 500)
    falls back to plain text rather than raising again."""
    answer_headers = {"Content-Security-Policy": CSP, **(headers or {})}
    if code == 404 and message == default_exceptions[404].description:
        # Werkzeug's text for an address no route matches talks of "the URL"; say which.
        message = f"There is no page at {request.path}."
    try:
        page = render_template(
            "error.html",
            code=code,
            title=TITLES.get(code, "Error"),
            message=message,
            advice=ADVICE.get(code, ""),
            user=page_user(),
        )
    except Exception:  # noqa: BLE001 (the error page must not fail in turn)
        log.exception("the error page for %s could not be rendered", code)
        answer_headers["Content-Type"] = "text/plain; charset=utf-8"
        return f"{code}: {message}", code, answer_headers
    return page, code, answer_headers


def _error_of_page(exc: RunnerError | HTTPException) -> ResponseReturnValue:
    if isinstance(exc, Unauthorized):
        return redirect(url_for("webui.login", next=request.full_path.rstrip("?")))
    headers: dict[str, str] = {}
    if isinstance(exc, HTTPException):
        code, message = exc.code or 500, exc.description or exc.name
    else:
        code, message = exc.http_status, str(exc)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
    if request.accept_mimetypes.best == "application/json" or request.path.endswith(".json"):
        return {"error": message}, code, headers
    return error_page(code, message, headers)


def init_blueprint(bp: Blueprint) -> None:
    """Answer the blueprint's errors with the error page, and offer it to the application for
    addresses no route matches."""
    bp.register_error_handler(RunnerError, _error_of_page)
    bp.register_error_handler(HTTPException, _error_of_page)
    bp.record_once(lambda state: state.app.extensions.setdefault(ERROR_PAGE, error_page))
