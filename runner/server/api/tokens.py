"""API tokens made from a login and password, and by an admin for a user.

- ``POST /tokens`` ``{"login", "password", "name"}`` (no token needed): checks the password
  through the same login throttle as the web login (429 with ``Retry-After`` after too many wrong
  passwords), answers 401 without saying whether the login or the password was wrong, and on
  success 201 with the new token (shown once). ``runner login`` calls it, so scripts need no
  database access.
- ``POST /users/<login>/tokens`` ``{"name"}`` (server admin): a new token of that user, shown
  once; ``runner user token LOGIN`` calls it.

Both record an audit entry (kind ``token.created``, subject ``user:<login>``) naming who made
the token and from which address; wrong passwords go to the server log, not the audit log, so a
stranger's guesses cannot fill the database.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from runner.core import User
from runner.errors import BadRequest, NotFound, Unauthorized
from runner.server.api import api_bp
from runner.server.api.common import body
from runner.server.auth import require_admin
from runner.server.services import current_services
from runner.services.users import create_token, log_in

log = logging.getLogger(__name__)

MAX_NAME = 100


def _token_name(data: dict[str, Any], default: str) -> str:
    name = data.get("name", default)
    if not isinstance(name, str):
        raise BadRequest("the token's name is text")
    return name.strip()[:MAX_NAME] or default


def _issue(user: User, name: str, actor: str, how: str) -> ResponseReturnValue:
    address = request.remote_addr or "?"
    token, raw = create_token(
        current_services().stores, user, name, actor=actor, how=f"{how} from {address}"
    )
    out = dataclasses.asdict(token)
    out["token"] = raw
    out["login"] = user.login
    return jsonify(out), 201


@api_bp.post("/tokens")
def create_token_by_login() -> ResponseReturnValue:
    data = body()
    login, password = data.get("login"), data.get("password")
    if not isinstance(login, str) or not isinstance(password, str) or not login or not password:
        raise BadRequest('send {"login": "...", "password": "..."} as text')
    services = current_services()
    address = request.remote_addr or ""
    user = log_in(services.stores, services.login_throttle, login, password, address)
    if user is None:
        log.warning("wrong login or password for a token, login %r from %s", login[:60], address)
        raise Unauthorized("wrong login or password")
    return _issue(user, _token_name(data, "cli"), user.login, "made by logging in")


@api_bp.post("/users/<login>/tokens")
def create_token_for_user(login: str) -> ResponseReturnValue:
    admin = require_admin()
    user = current_services().stores.users.find(login)
    if user is None:
        raise NotFound(f"no user {login}; see `runner user ls`")
    return _issue(user, _token_name(body(), "cli"), admin.login, f"made by {admin.login}")
