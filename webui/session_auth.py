"""Session login for the web UI on top of ``runner.server.auth``.

The API's ``identify()`` already reads ``session["user_id"]``; this module only writes it (after
checking a local account's password), guards pages, and turns ``Unauthorized`` on a page into
a redirect to the login form. Roles come from ``runner.server.auth.role_of``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec
from urllib.parse import urlparse

from flask import Blueprint, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask.wrappers import Response

from runner.core import ROLES, Repo, User
from runner.errors import Forbidden, NotFound, RunnerError, Unauthorized
from runner.server import auth
from runner.server.services import current_services
from runner.services import users as user_actions

P = ParamSpec("P")


def login_user(login: str, password: str) -> User | None:
    """Check a local account's password; on success start a fresh session for it.

    Raises ``LoginThrottled`` after too many wrong passwords (``runner.services.users.log_in``).
    """
    services = current_services()
    user = user_actions.log_in(
        services.stores, services.login_throttle, login, password, request.remote_addr or ""
    )
    if user is None:
        return None
    session.clear()
    session["user_id"] = user.id
    session["epoch"] = user.session_epoch
    session.permanent = True
    return user


def logout_user() -> None:
    """End the session: the cookie, and any copy of it, is refused from now on.

    The user's session epoch moves on, so this logs the user out of every browser.
    """
    user = page_user()
    if user is not None:
        user_actions.log_out(current_services().stores, user)
    session.clear()


def page_user() -> User | None:
    """The logged-in user of this request, or None; bearer tokens are not used by pages."""
    if "page_user" not in g:
        try:
            g.page_user = auth.current_user()
        except RunnerError:
            g.page_user = None
    user: User | None = g.page_user
    return user


def signed_in_user() -> User:
    """The logged-in user of a page that requires one (``login_required``); ``Unauthorized``
    (a redirect to the login form) when there is none."""
    user = page_user()
    if user is None:
        raise Unauthorized("log in to open this page")
    return user


def login_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Redirect anonymous visitors of a page to the login form, coming back afterwards."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if page_user() is None:
            return redirect(url_for("webui.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Pages only a server admin may open (403 for others)."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if not signed_in_user().is_admin:
            raise Forbidden("only a server admin may open this page")
        return view(*args, **kwargs)

    return wrapper


def role(repo: Repo) -> str:
    """The page user's role on ``repo`` ("" when none)."""
    user = page_user()
    return auth.role_of(user, repo) if user else ""


def can(repo: Repo, needed: str) -> bool:
    """True when the page user holds at least ``needed`` on ``repo``."""
    held = role(repo)
    return bool(held) and ROLES.index(held) >= ROLES.index(needed)


def require(repo: Repo, needed: str) -> None:
    """Raise unless the page user holds ``needed``; a repo they cannot read is 'not found'."""
    if can(repo, needed):
        return
    if not can(repo, ROLES[0]):
        raise NotFound(f"no repository {repo.slug}")
    raise Forbidden(f"this needs the {needed} role on {repo.slug}")


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything pointing elsewhere becomes the home page."""
    if not target:
        return url_for("webui.home")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("webui.home")
    return target


# Pages load scripts and styles from the server only; no inline script can run even if some
# text escaped the templates. Images may come from the forges (authors' avatars: only http(s)
# URLs reach a src, see webui.forge_links).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def init_blueprint(bp: Blueprint) -> None:
    """Install the security headers and the logged-in user's globals."""
    bp.after_request(_security_headers)

    @bp.app_context_processor
    def _globals() -> dict[str, User | None]:
        return {"user": page_user() if request.blueprint == "webui" else None}
