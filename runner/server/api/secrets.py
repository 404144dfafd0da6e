"""Repository secrets: add, list, update and delete (``runner.services.secrets``). Values go in
and never come out."""

from __future__ import annotations

import dataclasses

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN
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


@api_bp.delete("/repos/<owner>/<name>/secrets/<secret_name>")
def delete_secret(owner: str, name: str, secret_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    environment = request.args.get("environment", "")
    secret_actions.delete_secret(
        current_services().stores, repo, require_user(), secret_name, environment
    )
    return jsonify({"ok": True})
