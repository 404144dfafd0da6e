"""Agents (admins only): list, register (answering the agent token once), change the
registration, read its history, remove.

- ``GET /agents``: every agent: registered ``labels``, ``capacity``, ``allowed_repos``,
  ``allowed_environments``; what it last announced (``declared_labels``) and the announced
  labels its registration does not allow (``declared_beyond``).
- ``POST /agents`` ``{"name", "labels", "capacity", "allowed_repos", "allowed_environments"}``:
  register and answer a new token; for an agent that exists, the fields sent change its
  registration and the others (absent, null or "") stay, as on the admin page and the CLI.
- ``PATCH /agents/<id>`` with any of those fields: change the registration.
- ``GET /agents/<id>/history``: the audit log of the agent, newest first, with who did what.
- ``DELETE /agents/<id>``: revoke its tokens and remove it.
"""

from __future__ import annotations

import dataclasses

from flask import jsonify
from flask.typing import ResponseReturnValue

from runner.server.api import api_bp
from runner.server.api.common import body
from runner.server.auth import require_admin
from runner.server.rpc_fields import record_id
from runner.server.services import current_services
from runner.services.agents import (
    as_dict,
    change_registration,
    history,
    register_with_token,
    remove_agent,
)


@api_bp.get("/agents")
def list_agents() -> ResponseReturnValue:
    require_admin()
    return jsonify([as_dict(a) for a in current_services().stores.agents.all_agents()])


@api_bp.post("/agents")
def add_agent() -> ResponseReturnValue:
    admin = require_admin()
    stores = current_services().stores
    agent, token = register_with_token(stores, body(), actor=admin.login)
    out = as_dict(agent)
    out["token"] = token
    return jsonify(out), 201


@api_bp.patch("/agents/<int:agent_id>")
def change_agent_registration(agent_id: int) -> ResponseReturnValue:
    admin = require_admin()
    stores = current_services().stores
    agent = stores.agents.get(record_id(agent_id, "agent"))
    return jsonify(as_dict(change_registration(stores, agent, body(), actor=admin.login)))


@api_bp.get("/agents/<int:agent_id>/history")
def agent_history(agent_id: int) -> ResponseReturnValue:
    require_admin()
    stores = current_services().stores
    agent = stores.agents.get(record_id(agent_id, "agent"))
    return jsonify([dataclasses.asdict(e) for e in history(stores, agent)])


@api_bp.delete("/agents/<int:agent_id>")
def remove_agent_registration(agent_id: int) -> ResponseReturnValue:
    admin = require_admin()
    stores = current_services().stores
    remove_agent(stores, stores.agents.get(record_id(agent_id, "agent")), actor=admin.login)
    return jsonify({"ok": True})
