"""Deployments: what is live in each environment of a repository, and the history.

- ``GET /repos/<o>/<n>/deployments?environment=&limit=&before=`` (read): records newest first,
  ``limit`` 1 to 100 (default 25); the next page passes the last record's ``id`` as ``before``.
- ``GET /repos/<o>/<n>/deployments/status`` (read): per environment, in matching order, its
  ``live`` record, a ``canary`` newer than it, and the record being ``deploying`` (null each
  when none).
- ``GET /repos/<o>/<n>/environments/<env>/status`` (read): the same for one environment; 404
  when it neither exists nor has records.

A build's own JSON (``GET .../builds/<n>``) lists where it is deployed under ``deployments``.
"""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from runner.core import ROLE_READ
from runner.errors import NotFound
from runner.server.api import api_bp
from runner.server.api.common import repo_for
from runner.server.services import current_services
from runner.services import deployments as deploy_views


@api_bp.get("/repos/<owner>/<name>/deployments")
def list_deployments(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_READ)
    records = deploy_views.list_deployments(
        current_services().stores,
        repo,
        environment=request.args.get("environment") or None,
        limit=request.args.get("limit"),
        before=request.args.get("before"),
    )
    return jsonify([deploy_views.deployment_json(r) for r in records])


@api_bp.get("/repos/<owner>/<name>/deployments/status")
def deployments_status(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_READ)
    statuses = deploy_views.environment_status(current_services().stores, repo)
    return jsonify([s.to_dict() for s in statuses])


@api_bp.get("/repos/<owner>/<name>/environments/<env_name>/status")
def environment_status(owner: str, name: str, env_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_READ)
    status = deploy_views.status_of(current_services().stores, repo, env_name)
    if status is None:
        raise NotFound(f"no environment {env_name!r}; list them with `runner env ls`")
    return jsonify(status.to_dict())
