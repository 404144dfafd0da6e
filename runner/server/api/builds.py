"""Builds: list (paged, filtered), get with stages and steps, create, restart (whole, or only
the failed stages), cancel, approve, decline. The actions are ``runner.services.builds``'s."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from runner.core import ROLE_READ, ROLE_WRITE
from runner.server.api import api_bp
from runner.server.api.common import body, build_json, get_build, paging, repo_for
from runner.server.auth import require_user
from runner.server.services import current_services
from runner.services import build_filters
from runner.services import builds as build_actions


@api_bp.get("/repos/<owner>/<name>/builds")
def list_builds(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_READ)
    page, per_page = paging()
    chosen = build_filters.from_query(request.args)
    builds = current_services().stores.builds.page_of_repo(
        repo.id, page=page, per_page=per_page, **chosen.store_args()
    )
    return jsonify([build_json(b, with_stages=False) for b in builds])


@api_bp.get("/repos/<owner>/<name>/builds/<int:number>")
def get_build_view(owner: str, name: str, number: int) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_READ)
    return jsonify(build_json(get_build(repo, number)))


@api_bp.post("/repos/<owner>/<name>/builds")
def create_build(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    user = require_user()
    data = body()
    build = build_actions.trigger(
        current_services(),
        repo,
        user,
        branch=str(data.get("branch") or ""),
        tag=str(data.get("tag") or ""),
        commit=str(data.get("commit") or ""),
        params=data.get("params") or {},
    )
    return jsonify(build_json(build)), 201


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/restart")
def restart_build(owner: str, name: str, number: int) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    user = require_user()
    build = build_actions.restart(current_services(), repo, get_build(repo, number), user)
    return jsonify(build_json(build)), 201


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/rerun-failed")
def rerun_failed_stages(owner: str, name: str, number: int) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    user = require_user()
    build = build_actions.rerun_failed(current_services(), repo, get_build(repo, number), user)
    return jsonify(build_json(build)), 201


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/cancel")
def cancel_build(owner: str, name: str, number: int) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    build_actions.cancel(current_services(), get_build(repo, number), require_user())
    return jsonify(build_json(get_build(repo, number)))


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/approve")
def approve_build(owner: str, name: str, number: int) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    build_actions.approve(current_services(), get_build(repo, number), require_user())
    return jsonify(build_json(get_build(repo, number)))


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/decline")
def decline_build(owner: str, name: str, number: int) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    build_actions.decline(current_services(), get_build(repo, number), require_user())
    return jsonify(build_json(get_build(repo, number)))
