"""Agents: list, register (answering the agent token once), remove."""

from __future__ import annotations

import dataclasses

from flask import jsonify

from runner.errors import BadRequest
from runner.server.agents import issue_agent_token, register_agent, revoke_agent_tokens
from runner.server.api import api_bp
from runner.server.api.common import body, number_field
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
    agent = register_agent(
        stores,
        name,
        labels={str(k): str(v) for k, v in labels.items()},
        capacity=number_field(data, "capacity", 1, low=1),
    )
    out = dataclasses.asdict(agent)
    out["token"] = issue_agent_token(stores, agent)
    return jsonify(out), 201


@api_bp.delete("/agents/<int:agent_id>")
def remove_agent(agent_id: int):
    require_admin()
    stores = current_services().stores
    stores.agents.get(agent_id)
    revoke_agent_tokens(stores, agent_id)
    stores.agents.delete(agent_id)
    return jsonify({"ok": True})
