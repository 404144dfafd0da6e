"""Users and their API tokens (``runner.services.users``). Token values are shown once, when
created."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from runner.core import Token, User
from runner.server.api import api_bp
from runner.server.api.common import body
from runner.server.auth import require_admin, require_user
from runner.server.services import current_services
from runner.services import users as user_actions


def _user_json(user: User) -> dict[str, Any]:
    data = dataclasses.asdict(user)
    data.pop("session_epoch", None)
    return data


def _token_json(token: Token) -> dict[str, Any]:
    return dataclasses.asdict(token)


@api_bp.get("/user")
def whoami() -> ResponseReturnValue:
    return jsonify(_user_json(require_user()))


@api_bp.get("/users")
def list_users() -> ResponseReturnValue:
    require_admin()
    return jsonify([_user_json(u) for u in current_services().stores.users.all_users()])


@api_bp.post("/users")
def add_user() -> ResponseReturnValue:
    admin = require_admin()
    data = body()
    user = user_actions.create_user(
        current_services().stores,
        data.get("login", ""),
        data.get("password") or "",
        is_admin=bool(data.get("is_admin")),
        actor=admin.login,
    )
    return jsonify(_user_json(user)), 201


@api_bp.patch("/users/<login>")
def update_user(login: str) -> ResponseReturnValue:
    admin = require_admin()
    data = body()
    stores = current_services().stores
    user = user_actions.find_user(stores, login)
    if "is_admin" in data:
        user = user_actions.set_admin(stores, user, bool(data["is_admin"]), actor=admin.login)
    if "password" in data:
        user_actions.change_password(stores, user, data["password"], actor=admin.login)
    return jsonify(_user_json(stores.users.get(user.id)))


@api_bp.delete("/users/<login>")
def delete_user(login: str) -> ResponseReturnValue:
    admin = require_admin()
    stores = current_services().stores
    user_actions.delete_user(stores, user_actions.find_user(stores, login), admin)
    return jsonify({"ok": True})


@api_bp.get("/user/tokens")
def list_tokens() -> ResponseReturnValue:
    user = require_user()
    tokens = user_actions.tokens_of(current_services().stores, user)
    return jsonify([_token_json(t) for t in tokens])


@api_bp.post("/user/tokens")
def create_token() -> ResponseReturnValue:
    user = require_user()
    token, raw = user_actions.create_token(
        current_services().stores, user, body().get("name", ""), actor=user.login
    )
    out = _token_json(token)
    out["token"] = raw
    return jsonify(out), 201


@api_bp.delete("/user/tokens/<int:token_id>")
def revoke_token(token_id: int) -> ResponseReturnValue:
    user = require_user()
    user_actions.revoke_token(current_services().stores, token_id, owner=user, actor=user.login)
    return jsonify({"ok": True})
