"""Cron entries of a repository: list, add, change (on/off too), delete, run now
(``runner.services.crons``, which also tells the scheduler)."""

from __future__ import annotations

import dataclasses

from flask import jsonify
from flask.typing import ResponseReturnValue

from runner.core import ROLE_READ, ROLE_WRITE
from runner.server.api import api_bp
from runner.server.api.common import body, build_json, repo_for
from runner.server.auth import require_user
from runner.server.services import current_services
from runner.services import crons as cron_actions


@api_bp.get("/repos/<owner>/<name>/crons")
def list_crons(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_READ)
    return jsonify(
        [dataclasses.asdict(c) for c in current_services().stores.crons.matching(repo.id)]
    )


@api_bp.post("/repos/<owner>/<name>/crons")
def add_cron(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    data = body()
    cron = cron_actions.create_cron(
        current_services(),
        repo,
        require_user(),
        name=data.get("name", ""),
        schedule=str(data.get("schedule", "")),
        branch=str(data.get("branch") or ""),
    )
    return jsonify(dataclasses.asdict(cron)), 201


@api_bp.patch("/repos/<owner>/<name>/crons/<cron_name>")
def update_cron(owner: str, name: str, cron_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    services = current_services()
    cron = cron_actions.find_cron(services, repo, cron_name)
    cron = cron_actions.update_cron(services, repo, cron, require_user(), **body())
    return jsonify(dataclasses.asdict(cron))


@api_bp.delete("/repos/<owner>/<name>/crons/<cron_name>")
def delete_cron(owner: str, name: str, cron_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    services = current_services()
    cron = cron_actions.find_cron(services, repo, cron_name)
    cron_actions.delete_cron(services, repo, cron, require_user())
    return jsonify({"ok": True})


@api_bp.post("/repos/<owner>/<name>/crons/<cron_name>/run")
def run_cron_now(owner: str, name: str, cron_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    services = current_services()
    cron = cron_actions.find_cron(services, repo, cron_name)
    build = cron_actions.run_cron_now(services, repo, cron, require_user())
    return jsonify(build_json(build)), 201
