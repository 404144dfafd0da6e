"""Repository registries: add or replace, list, delete (``runner.services.registries``).
Passwords go in and never come out."""

from __future__ import annotations

import dataclasses

from flask import jsonify
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN
from runner.server.api import api_bp
from runner.server.api.common import body, repo_for
from runner.server.auth import require_user
from runner.server.services import current_services
from runner.services import registries as registry_actions


@api_bp.get("/repos/<owner>/<name>/registries")
def list_registries(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    found = current_services().stores.registries.of_repo(repo.id)
    return jsonify([dataclasses.asdict(r) for r in found])


@api_bp.post("/repos/<owner>/<name>/registries")
def add_registry(owner: str, name: str) -> ResponseReturnValue:
    """Add a registry, or replace the credentials of the one with that hostname."""
    repo = repo_for(owner, name, ROLE_ADMIN)
    data = body()
    registry = registry_actions.set_registry(
        current_services().stores,
        repo,
        require_user(),
        data.get("hostname"),
        data.get("username"),
        data.get("password"),
    )
    return jsonify(dataclasses.asdict(registry)), 201


@api_bp.delete("/repos/<owner>/<name>/registries/<path:hostname>")
def delete_registry(owner: str, name: str, hostname: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    registry_actions.delete_registry(current_services().stores, repo, require_user(), hostname)
    return jsonify({"ok": True})
