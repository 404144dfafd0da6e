"""Builds: list (paged, filtered), get with stages and steps, create, restart, cancel, approve."""

from __future__ import annotations

from flask import jsonify, request

from runner.core import ROLE_READ, ROLE_WRITE
from runner.errors import BadRequest
from runner.server.api import api_bp
from runner.server.api.common import body, build_json, get_build, paging, repo_for
from runner.server.auth import require_user
from runner.server.services import current_services

FILTERS = ("branch", "status", "event")


@api_bp.get("/repos/<owner>/<name>/builds")
def list_builds(owner: str, name: str):
    repo = repo_for(owner, name, ROLE_READ)
    page, per_page = paging()
    filters = {k: request.args[k] for k in FILTERS if request.args.get(k)}
    builds = current_services().stores.builds.list(repo.id, page=page, per_page=per_page, **filters)
    return jsonify([build_json(b, with_stages=False) for b in builds])


@api_bp.get("/repos/<owner>/<name>/builds/<int:number>")
def get_build_view(owner: str, name: str, number: int):
    repo = repo_for(owner, name, ROLE_READ)
    return jsonify(build_json(get_build(repo, number)))


@api_bp.post("/repos/<owner>/<name>/builds")
def create_build(owner: str, name: str):
    repo = repo_for(owner, name, ROLE_WRITE)
    user = require_user()
    data = body()
    branch = str(data.get("branch") or repo.default_branch)
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise BadRequest("params must be an object of NAME: value")
    services = current_services()
    build = services.triggerer.manual(
        repo,
        branch=branch,
        commit=str(data.get("commit", "")),
        sender=user.login,
        params={str(k): str(v) for k, v in params.items()},
    )
    services.wake_agents()
    return jsonify(build_json(build)), 201


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/restart")
def restart_build(owner: str, name: str, number: int):
    repo = repo_for(owner, name, ROLE_WRITE)
    user = require_user()
    services = current_services()
    build = services.triggerer.restart(repo, get_build(repo, number), sender=user.login)
    services.wake_agents()
    return jsonify(build_json(build)), 201


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/cancel")
def cancel_build(owner: str, name: str, number: int):
    repo = repo_for(owner, name, ROLE_WRITE)
    services = current_services()
    build = get_build(repo, number)
    services.stores.builds.cancel(build.id, actor=require_user().login)
    services.wake_agents()
    return jsonify(build_json(get_build(repo, number)))


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/approve")
def approve_build(owner: str, name: str, number: int):
    repo = repo_for(owner, name, ROLE_WRITE)
    user = require_user()
    services = current_services()
    build = get_build(repo, number)
    services.stores.builds.approve(build.id, user.login)
    services.wake_agents()
    return jsonify(build_json(get_build(repo, number)))


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/decline")
def decline_build(owner: str, name: str, number: int):
    repo = repo_for(owner, name, ROLE_WRITE)
    user = require_user()
    services = current_services()
    build = get_build(repo, number)
    services.stores.builds.decline(build.id, user.login)
    return jsonify(build_json(get_build(repo, number)))
