"""The one place where errors become HTTP answers.

``RunnerError`` subclasses answer ``{"error": message}`` with their ``http_status``; HTTP errors
(404, 405, 413...) answer JSON under ``/api``, ``/rpc`` and ``/hook``, and elsewhere the web UI's
error page (``webui.views_errors``, found in ``app.extensions``); anything unexpected is logged
with its traceback and answers a 500 message — never a stack trace.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from runner.errors import RunnerError

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/rpc/", "/hook/")
# ``app.extensions`` key of the callable ``(code, message)`` that renders an error page.
ERROR_PAGE = "runner.error_page"


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) or request.accept_mimetypes.best == (
        "application/json"
    )


def _page(code: int, message: str) -> ResponseReturnValue | None:
    """The web UI's error page for a browser, when the UI is installed (``ERROR_PAGE``)."""
    render = current_app.extensions.get(ERROR_PAGE)
    return render(code, message) if render is not None else None


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on ``app``; call once from ``create_app``."""

    @app.errorhandler(RunnerError)
    def _runner_error(exc: RunnerError) -> ResponseReturnValue:
        body: dict[str, str | list[str]] = {"error": str(exc)}
        issues = getattr(exc, "issues", None)
        if issues:
            body["issues"] = [str(i) for i in issues]
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return jsonify(body), exc.http_status, headers

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        if not _wants_json():
            page = _page(exc.code or 500, exc.description or exc.name)
            if page is None:
                return exc
            response = current_app.make_response(page)
            # Headers the error carries (Allow of a 405) stay with the page that replaces it.
            for key, value in exc.get_headers():
                if key.lower() != "content-type":
                    response.headers.setdefault(key, value)
            return response
        # Flask answers a code-less HTTPException itself and hands handlers only those with one.
        return jsonify({"error": exc.description or exc.name}), exc.code or 500

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = "internal error; the server log has the details"
        if _wants_json():
            return jsonify({"error": message}), 500
        page = _page(500, message)
        if page is not None:
            return page
        return message, 500, {"Content-Type": "text/plain; charset=utf-8"}
