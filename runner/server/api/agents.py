"""Agents: list, register (answering the agent token once), remove."""

from __future__ import annotations

import dataclasses

from flask import jsonify

from runner.errors import BadRequest, NotFound
from runner.server.api import api_bp
from runner.server.api.common import body
from runner.server.auth import require_admin
from runner.server.services import current_services
from runner.settings import parse_labels


@api_bp.get("/agents")
def list_agents():
    require_admin()
    return jsonify([dataclasses.asdict(a) for a in current_services().stores.agents.list()])


@api_bp.post("/agents")
def add_agent():
    require_admin()
    data = body()
    name = str(data.get("name", "")).strip()
    if not name:
        raise BadRequest("an agent needs a name")
    labels = data.get("labels") or {}
    if isinstance(labels, str):
        labels = parse_labels(labels)
    if not isinstance(labels, dict):
        raise BadRequest("labels must be an object or 'k=v,k2=v2'")
    stores = current_services().stores
    agent = stores.agents.upsert(
        name,
        labels={str(k): str(v) for k, v in labels.items()},
        capacity=int(data.get("capacity", 1)),
    )
    _token, raw = stores.tokens.create_agent(agent.id, name=name)
    out = dataclasses.asdict(agent)
    out["token"] = raw
    return jsonify(out), 201


@api_bp.delete("/agents/<int:agent_id>")
def remove_agent(agent_id: int):
    require_admin()
    stores = current_services().stores
    if stores.agents.get(agent_id) is None:
        raise NotFound(f"no agent {agent_id}")
    stores.tokens.revoke_agent(agent_id)
    stores.agents.delete(agent_id)
    return jsonify({"ok": True})
