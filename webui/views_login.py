"""Login and logout pages."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner.server.login_throttle import LoginThrottled
from webui import webui_bp
from webui.session_auth import login_user, logout_user, page_user, safe_next


@webui_bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; a wrong login or password answers 401 with the form and a message."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if page_user() is not None:
            return redirect(next_url)
        return render_template("login.html", next=next_url, errors={}, login="")
    login_name = request.form.get("login", "").strip()
    password = request.form.get("password", "")
    errors = {}
    if not login_name:
        errors["login"] = "Enter your login."
    if not password:
        errors["password"] = "Enter your password."
    if not errors:
        try:
            if login_user(login_name, password) is None:
                errors["password"] = "Unknown login or wrong password."
        except LoginThrottled as exc:
            errors["password"] = f"Too many wrong passwords. Try again in {exc.retry_after} s."
            page = render_template("login.html", next=next_url, errors=errors, login=login_name)
            return page, 429, {"Retry-After": str(exc.retry_after)}
    if errors:
        return render_template("login.html", next=next_url, errors=errors, login=login_name), 401
    return redirect(next_url)


@webui_bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    """End the session (a POST with the CSRF token, so a link elsewhere cannot log you out)."""
    logout_user()
    return redirect(url_for("webui.login"))
