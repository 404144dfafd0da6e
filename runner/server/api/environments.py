"""Environments of a repository, promote and rollback, and why stages are waiting.

- ``GET /repos/<o>/<n>/environments`` (read), ``POST`` (admin), ``PATCH|DELETE
  /repos/<o>/<n>/environments/<env>`` (admin). Bodies use the names of the pipeline file's
  ``environments:`` declaration (``branches``, ``tags``, ``events``, ``labels``, ``approval``,
  ``approvals_required``, ``four_eyes``, ``rollback_exempt``, ``lock``) plus ``position``;
  they are validated by ``runner.environments.parse_declaration``.
- ``POST /repos/<o>/<n>/builds/<number>/promote`` and ``.../rollback`` ``{"target": env}``
  (write): a new build of that build's commit with event ``promote`` / ``rollback``; 422
  when its pipeline has no step for the environment (``runner.server.trigger.NothingToDeploy``).
- ``GET /repos/<o>/<n>/builds/<number>/history`` (read): requeues with reasons, approvals.
- ``GET /agents/status`` (admin): agents with labels, version, last contact, running stages.
- ``GET /repos/<o>/<n>/builds/<number>/waiting`` (read) and ``GET /queue`` (admin): for each
  stage not yet running, the reason in words ("no agent with env=production is connected").
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from runner.approval_rules import blocked_reason
from runner.core import (
    BLOCKED,
    PENDING,
    ROLE_ADMIN,
    ROLE_READ,
    ROLE_WRITE,
    WAITING,
    Agent,
    Build,
    Stage,
)
from runner.errors import NotFound
from runner.labels import describe, matches
from runner.pipeline.readiness import waiting_for
from runner.server.api import api_bp
from runner.server.api.common import body, build_json, get_build, repo_for
from runner.server.auth import require_admin, require_user
from runner.server.services import Services, current_services
from runner.services import builds as build_actions
from runner.services import environments as env_actions

# An agent counts as connected while its last claim or heartbeat is this recent. Idle agents
# long-poll for 30 s at most, so two polls' worth is a safe margin.
CONNECTED_SECONDS = 75.0


def _env_json(env: Any) -> dict[str, Any]:
    """An environment record (``runner.store.records.Environment``; the API may not import the
    store) as JSON."""
    data = dataclasses.asdict(env)
    data["approval"] = data.get("approval_required", False)
    return data


@api_bp.get("/repos/<owner>/<name>/environments")
def list_environments(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_READ)
    envs = current_services().stores.environments.of_repo(repo.id)
    return jsonify([_env_json(e) for e in envs])


@api_bp.post("/repos/<owner>/<name>/environments")
def add_environment(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    data = body()
    env = env_actions.create_environment(
        current_services().stores, repo, require_user(), str(data.get("name", "")), data
    )
    return jsonify(_env_json(env)), 201


@api_bp.patch("/repos/<owner>/<name>/environments/<env_name>")
def update_environment(owner: str, name: str, env_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    stores = current_services().stores
    env = env_actions.find_environment(stores, repo, env_name)
    env = env_actions.update_environment(stores, repo, env, require_user(), body())
    return jsonify(_env_json(env))


@api_bp.delete("/repos/<owner>/<name>/environments/<env_name>")
def delete_environment(owner: str, name: str, env_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    stores = current_services().stores
    env = env_actions.find_environment(stores, repo, env_name)
    env_actions.delete_environment(stores, repo, env, require_user())
    return jsonify({"ok": True})


def _promote(owner: str, name: str, number: int, event: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    user = require_user()
    target = str(body().get("target", ""))
    source = get_build(repo, number)
    build = build_actions.promote(
        current_services(), repo, source, user, target=target, event=event
    )
    return jsonify(build_json(build)), 201


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/promote")
def promote_build(owner: str, name: str, number: int) -> ResponseReturnValue:
    return _promote(owner, name, number, "promote")


@api_bp.post("/repos/<owner>/<name>/builds/<int:number>/rollback")
def rollback_build(owner: str, name: str, number: int) -> ResponseReturnValue:
    return _promote(owner, name, number, "rollback")


@api_bp.get("/repos/<owner>/<name>/builds/<int:number>/waiting")
def build_waiting(owner: str, name: str, number: int) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_READ)
    services = current_services()
    build = get_build(repo, number)
    return jsonify(waiting_reasons(services, build))


@api_bp.get("/queue")
def queue_view() -> ResponseReturnValue:
    require_admin()
    services = current_services()
    out = []
    for build in services.stores.builds.active():
        repo = services.stores.repos.get(build.repo_id)
        for item in waiting_reasons(services, build):
            out.append({"repo": repo.slug, "build": build.number, **item})
    return jsonify(out)


def waiting_reasons(
    services: Services, build: Build, now: float | None = None
) -> list[dict[str, str]]:
    """For each stage of ``build`` not yet running: ``{"stage", "status", "reason"}``.

    The reason says what the stage waits for, in the order a person would check: approval,
    unfinished dependencies, the environment's deploy lock, a connected agent with the right
    labels, a free slot on one.
    """
    now = time.time() if now is None else now
    stores = services.stores
    env = stores.environments.find(build.repo_id, build.target) if build.target else None
    agents = [a for a in stores.agents.all_agents() if now - a.last_contact <= CONNECTED_SECONDS]
    by_name = {s.name: s for s in build.stages}
    out: list[dict[str, str]] = []
    for stage in build.stages:
        if stage.status not in (PENDING, WAITING, BLOCKED):
            continue
        out.append(
            {
                "stage": stage.name,
                "status": stage.status,
                "reason": _reason(stores, build, stage, by_name, env, agents),
            }
        )
    return out


def _reason(
    stores: Any,
    build: Build,
    stage: Stage,
    by_name: dict[str, Stage],
    env: Any,
    agents: list[Agent],
) -> str:
    if stage.status == BLOCKED:
        approvals = stores.approvals.of_build(build.id)
        approvers = [a.login for a in approvals if a.decision == "approved"]
        return blocked_reason(env, build, approvers)
    unfinished = waiting_for(stage.depends_on, {name: s.status for name, s in by_name.items()})
    if unfinished:
        return "waiting for " + ", ".join(unfinished) + " to finish"
    if env is not None and env.lock and env.locked_by not in (None, build.id):
        holder = _build_number(stores, env.locked_by)
        return f"waiting for the deploy lock of {env.name} (held by build #{holder})"
    fitting = [a for a in agents if matches(stage.labels, a.labels)]
    if not fitting:
        if not stage.labels:
            return "no agent is connected"
        return f"no {describe(stage.labels).removeprefix('an ')} is connected"
    healthy = [a for a in fitting if not a.unhealthy]
    if not healthy:
        sick = "; ".join(f"agent {a.name} is unhealthy: {a.unhealthy}" for a in fitting)
        return f"no healthy agent can take it ({sick})"
    fitting = healthy
    busy = [a for a in fitting if len(stores.stages.running_for(a.id)) >= a.capacity]
    if len(busy) == len(fitting):
        return f"all {len(fitting)} fitting agents are busy"
    return "waiting for an agent to claim it"


def _build_number(stores: Any, build_id: int) -> str:
    try:
        return str(stores.builds.header(build_id).number)
    except NotFound:
        return str(build_id)


@api_bp.get("/repos/<owner>/<name>/builds/<int:number>/history")
def build_history(owner: str, name: str, number: int) -> ResponseReturnValue:
    """What happened to the build besides its statuses: requeues and their reasons, lost
    agents, approvals and declines, oldest first."""
    repo = repo_for(owner, name, ROLE_READ)
    stores = current_services().stores
    build = get_build(repo, number)
    return jsonify(
        {
            "events": [
                {**dataclasses.asdict(e), "text": e.text} for e in stores.events.of_build(build.id)
            ],
            "approvals": [dataclasses.asdict(a) for a in stores.approvals.of_build(build.id)],
        }
    )


@api_bp.get("/agents/status")
def agents_status() -> ResponseReturnValue:
    """Every agent with its labels, version, capacity, last contact, whether it counts as
    connected, and the stages it runs now (repository, build number, stage name)."""
    require_admin()
    stores = current_services().stores
    now = time.time()
    out = []
    for agent in stores.agents.all_agents():
        running = []
        for stage in stores.stages.running_for(agent.id):
            build = stores.builds.header(stage.build_id)
            repo = stores.repos.get(build.repo_id)
            running.append({"repo": repo.slug, "build": build.number, "stage": stage.name})
        data = dataclasses.asdict(agent)
        data["connected"] = now - agent.last_contact <= CONNECTED_SECONDS
        data["running"] = running
        out.append(data)
    return jsonify(out)
