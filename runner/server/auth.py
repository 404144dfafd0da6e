"""Who is calling, and what they may do.

A request carries a user token (``Authorization: Bearer <token>``), an agent token (same header;
it opens only ``/rpc``), or the web UI's session cookie (``session["user_id"]``). The identity is
resolved once per request and kept on ``flask.g``.

A session cookie also carries the user's session epoch (``session["epoch"]``); once the epoch
has moved on (logout, password change) the cookie is ignored, as if there were none.

A browser sends the session cookie with any request, including one another site makes it send,
so a state-changing call (POST, PUT, PATCH, DELETE) authenticated by the cookie must also carry
the session's CSRF token (``session["csrf"]``) in the ``X-CSRF-Token`` header; the web UI's
pages hold it in ``<meta name="csrf-token">``. Bearer tokens are never sent by a browser on its
own, so calls with one need no CSRF token.

Roles per repository are read < write < admin. A server admin has every role everywhere. A
logged-in user has ``read`` on a repository that is not private; anything more needs a grant.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import g, request, session

from runner.core import ROLE_ADMIN, ROLES, TOKEN_AGENT, Agent, Repo, User
from runner.errors import Forbidden, NotFound, Unauthorized
from runner.server.services import current_services

T = TypeVar("T")

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Identity:
    """The caller of one request: a user, an agent, or nobody."""

    user: User | None = None
    agent: Agent | None = None
    token_id: int | None = None


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return ""


def identify() -> Identity:
    """Resolve (once per request) who is calling; never raises for a missing identity."""
    if "identity" in g:
        known: Identity = g.identity
        return known
    services = current_services()
    stores = services.stores
    ident = Identity()
    raw = _bearer()
    if raw:
        token = stores.tokens.verify(raw)
        if token is None:
            raise Unauthorized(
                "the API token is unknown or revoked; create one with `runner user token`"
            )
        ident.token_id = token.id
        if token.kind == TOKEN_AGENT:
            ident.agent = _lookup(stores.agents.get, token.agent_id)
            if ident.agent is None:
                raise Unauthorized("the agent token belongs to no registered agent")
        else:
            ident.user = _lookup(stores.users.get, token.user_id)
            if ident.user is None:
                raise Unauthorized("the token's user was removed")
    elif session.get("user_id"):
        _check_session_csrf()
        user = _lookup(stores.users.get, session["user_id"])
        if user is not None and session.get("epoch") == user.session_epoch:
            ident.user = user
    g.identity = ident
    return ident


def csrf_matches(sent: str) -> bool:
    """True when ``sent`` is the session's CSRF token (compared in constant time)."""
    expected = session.get("csrf") or ""
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def _check_session_csrf() -> None:
    """Refuse (403) an unsafe call authenticated by the session cookie without the CSRF header.

    The web UI's own form posts are left to its blueprint, which checks the form's hidden field
    before any of its views runs.
    """
    if request.method in SAFE_METHODS or request.blueprint == "webui":
        return
    if not csrf_matches(request.headers.get(CSRF_HEADER, "")):
        raise Forbidden(
            f"a {request.method} with the session cookie needs the {CSRF_HEADER} header of the "
            'page (<meta name="csrf-token">); reload the page, or send a Bearer token instead'
        )


def _lookup(getter: Callable[[int], T], ident: int | str | None) -> T | None:
    """``getter(ident)``, or None when there is no such record (or no id)."""
    if not ident:
        return None
    try:
        return getter(int(ident))
    except (NotFound, ValueError):
        return None


def current_user() -> User | None:
    """The calling user, or None (anonymous or agent)."""
    return identify().user


def require_user() -> User:
    """The calling user; 401 without one, 403 for an agent token."""
    ident = identify()
    if ident.agent is not None:
        raise Forbidden("agent tokens open only the agent RPC (/rpc/v1)")
    if ident.user is None:
        raise Unauthorized("log in or send `Authorization: Bearer <token>`")
    return ident.user


def require_admin() -> User:
    """The calling user, who must be a server admin."""
    user = require_user()
    if not user.is_admin:
        raise Forbidden("only a server admin may do this")
    return user


def require_agent() -> Agent:
    """The calling agent; user tokens and sessions are refused."""
    ident = identify()
    if ident.agent is None:
        if ident.user is None:
            raise Unauthorized("send `Authorization: Bearer <agent token>`")
        raise Forbidden("the agent RPC needs an agent token, not a user token")
    return ident.agent


def role_of(user: User, repo: Repo) -> str:
    """The user's role on the repository: ``admin``, ``write``, ``read`` or ``""`` (none)."""
    if user.is_admin:
        return ROLE_ADMIN
    granted = current_services().stores.users.role(user.id, repo.id) or ""
    if not granted and not repo.private:
        return ROLES[0]
    return granted


def has_role(user: User, repo: Repo, role: str) -> bool:
    """True when the user's role on the repository is at least ``role``."""
    held = role_of(user, repo)
    return bool(held) and ROLES.index(held) >= ROLES.index(role)


def require_role(repo: Repo, role: str) -> User:
    """The calling user, who must hold at least ``role`` on ``repo``.

    A user who cannot even read a private repository gets 404 (its existence is not revealed);
    one who can read but needs more gets 403.
    """
    user = require_user()
    if has_role(user, repo, role):
        return user
    if not has_role(user, repo, ROLES[0]):
        raise NotFound(f"no repository {repo.slug}")
    raise Forbidden(f"this needs the {role} role on {repo.slug}")
