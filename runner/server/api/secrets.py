"""Repository secrets: add, list, replace, edit (filters; the value only when sent) and delete
(``runner.services.secrets``). Values go in and never come out."""

from __future__ import annotations

import dataclasses

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN
from runner.errors import NotFound
from runner.server.api import api_bp
from runner.server.api.common import body, repo_for
from runner.server.auth import require_user
from runner.server.services import current_services
from runner.services import secrets as secret_actions


@api_bp.get("/repos/<owner>/<name>/secrets")
def list_secrets(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    return jsonify(
        [dataclasses.asdict(s) for s in current_services().stores.secrets.of_repo(repo.id)]
    )


@api_bp.post("/repos/<owner>/<name>/secrets")
def add_secret(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    data = body()
    secret = secret_actions.set_secret(
        current_services().stores,
        repo,
        require_user(),
        str(data.get("name", "")),
        data.get("value"),
        data,
        mode="add",
    )
    return jsonify(dataclasses.asdict(secret)), 201


@api_bp.put("/repos/<owner>/<name>/secrets/<secret_name>")
def replace_secret(owner: str, name: str, secret_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    data = body()
    secret = secret_actions.set_secret(
        current_services().stores,
        repo,
        require_user(),
        secret_name,
        data.get("value"),
        data,
        mode="replace",
    )
    return jsonify(dataclasses.asdict(secret))


@api_bp.patch("/repos/<owner>/<name>/secrets/<secret_name>")
def edit_secret(owner: str, name: str, secret_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    stores = current_services().stores
    secret = stores.secrets.find(repo.id, secret_name, request.args.get("environment", ""))
    if secret is None:
        raise NotFound(f"no secret {secret_name} in {repo.slug}")
    data = body()
    edited = secret_actions.edit_secret(
        stores, repo, require_user(), secret, data.get("value"), data
    )
    return jsonify(dataclasses.asdict(edited))


@api_bp.delete("/repos/<owner>/<name>/secrets/<secret_name>")
def delete_secret(owner: str, name: str, secret_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    environment = request.args.get("environment", "")
    secret_actions.delete_secret(
        current_services().stores, repo, require_user(), secret_name, environment
    )
    return jsonify({"ok": True})
