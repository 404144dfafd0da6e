"""Users and their API tokens. Token values are shown once, when created."""

from __future__ import annotations

import dataclasses

from flask import jsonify

from runner.core import TOKEN_USER
from runner.errors import BadRequest, NotFound
from runner.server.accounts import change_password, create_user
from runner.server.api import api_bp
from runner.server.api.common import body
from runner.server.auth import require_admin, require_user
from runner.server.services import current_services


def _user_json(user) -> dict:
    data = dataclasses.asdict(user)
    data.pop("session_epoch", None)
    return data


def _token_json(token) -> dict:
    return dataclasses.asdict(token)


@api_bp.get("/user")
def whoami():
    return jsonify(_user_json(require_user()))


@api_bp.get("/users")
def list_users():
    require_admin()
    return jsonify([_user_json(u) for u in current_services().stores.users.list()])


@api_bp.post("/users")
def add_user():
    require_admin()
    data = body()
    login = str(data.get("login", "")).strip()
    password = data.get("password") or ""
    if not login or not login.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise BadRequest("a user needs a login of letters, digits, '-', '_' or '.'")
    user = create_user(
        current_services().stores, login, password, is_admin=bool(data.get("is_admin"))
    )
    return jsonify(_user_json(user)), 201


@api_bp.patch("/users/<login>")
def update_user(login: str):
    require_admin()
    data = body()
    users = current_services().stores.users
    user = users.find(login)
    if user is None:
        raise NotFound(f"no user {login}")
    if "is_admin" in data:
        users.set_admin(user.id, bool(data["is_admin"]))
        user = users.get(user.id)
    if "password" in data:
        change_password(current_services().stores, user, data["password"])
    return jsonify(_user_json(users.get(user.id)))


@api_bp.delete("/users/<login>")
def delete_user(login: str):
    me = require_admin()
    users = current_services().stores.users
    user = users.find(login)
    if user is None:
        raise NotFound(f"no user {login}")
    if user.id == me.id:
        raise BadRequest("you cannot delete yourself; ask another admin")
    users.delete(user.id)
    return jsonify({"ok": True})


@api_bp.get("/user/tokens")
def list_tokens():
    user = require_user()
    tokens = current_services().stores.tokens.list(user_id=user.id, kind=TOKEN_USER)
    return jsonify([_token_json(t) for t in tokens])


@api_bp.post("/user/tokens")
def create_token():
    user = require_user()
    name = str(body().get("name", "")).strip() or "api"
    token, raw = current_services().stores.tokens.create(name, kind=TOKEN_USER, user_id=user.id)
    out = _token_json(token)
    out["token"] = raw
    return jsonify(out), 201


@api_bp.delete("/user/tokens/<int:token_id>")
def revoke_token(token_id: int):
    user = require_user()
    tokens = current_services().stores.tokens
    try:
        token = tokens.get(token_id)
    except NotFound:
        token = None
    if token is None or token.user_id != user.id:
        raise NotFound(f"you have no token {token_id}")
    tokens.revoke(token_id)
    return jsonify({"ok": True})
