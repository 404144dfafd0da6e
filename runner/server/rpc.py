"""The agent RPC (``/rpc/v1``): how agents take stages, report steps and upload logs.

Every call needs an agent token. An agent may only touch the stages it claimed (403 otherwise).

- ``POST /claim`` ``{"timeout": s}``: long-poll; answers at once with a stage when one is
  claimable, or as soon as one becomes claimable (``QueueSignal`` wake-up, no fixed sleep);
  204 when the timeout passes.
- ``POST /stages/<id>/heartbeat``: renews the lease; answers ``{"cancel": bool, "lost": bool}``
  (``lost``: the stage ended or was requeued meanwhile; stop it and report nothing). A stage
  now held by another agent answers 403, which the agent treats as lost too.
- ``POST /stages/<id>/steps/<step_id>``: a step's status (running, success, failure...).
- ``POST /steps/<step_id>/logs?seq=N``: a batch of log lines as a UTF-8 text body; idempotent
  on (step, seq), so a resend after a lost answer never duplicates lines.
- ``POST /stages/<id>/done`` ``{"status", "error", "steps"}``: the stage ended; ``steps``
  (optional) carries step updates not sent on their own (``[{"id": step_id, "status", ...}]``),
  recorded first, in order.
- ``POST /stages/<id>/handback`` ``{"reason"}``: the agent stops without finishing it; the
  stage is requeued for another agent, with the reason in the build's history.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify, request

from runner.core import DONE_STATUSES, Stage
from runner.errors import BadRequest, Forbidden
from runner.server import claims
from runner.server.auth import require_agent
from runner.server.services import current_services
from runner.store.queue import LEASE_LOST, LEASE_OK

rpc_bp = Blueprint("rpc", __name__)

MAX_CLAIM_WAIT = 60.0


def _owned_stage(stage_id: int) -> Stage:
    agent = require_agent()
    stage = current_services().stores.stages.get(stage_id)
    if stage.agent_id != agent.id:
        raise Forbidden(f"stage {stage_id} is not claimed by agent {agent.name}")
    return stage


def _json() -> dict:
    data = request.get_json(silent=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


@rpc_bp.post("/claim")
def claim():
    agent = require_agent()
    services = current_services()
    data = _json()
    timeout = min(float(data.get("timeout", 30)), MAX_CLAIM_WAIT)
    deadline = time.monotonic() + timeout
    agent = claims.refresh_agent(services, agent, data)
    while True:
        generation = services.queue.generation
        stage = services.stores.stages.claim(agent, lease_seconds=services.settings.lease_seconds)
        if stage is not None:
            return jsonify(claims.claimed(services, stage))
        left = deadline - time.monotonic()
        if left <= 0 or services.stopping.is_set():
            return Response(status=204)
        services.admission.wait_for_work(services.queue, generation, left)


@rpc_bp.post("/stages/<int:stage_id>/heartbeat")
def heartbeat(stage_id: int):
    agent = require_agent()
    _owned_stage(stage_id)
    services = current_services()
    answer = services.stores.stages.renew_lease(
        stage_id, agent.id, lease_seconds=services.settings.lease_seconds
    )
    return jsonify({"cancel": answer != LEASE_OK, "lost": answer == LEASE_LOST})


@rpc_bp.post("/stages/<int:stage_id>/steps/<int:step_id>")
def step_update(stage_id: int, step_id: int):
    stage = _owned_stage(stage_id)
    data = _json()
    status = str(data.get("status", ""))
    if not status:
        raise BadRequest("a step update needs a status")
    claims.update_step(current_services(), stage, step_id, data)
    return jsonify({"ok": True})


@rpc_bp.post("/steps/<int:step_id>/logs")
def logs(step_id: int):
    agent = require_agent()
    services = current_services()
    try:
        seq = int(request.args["seq"])
    except (KeyError, ValueError):
        raise BadRequest("a log upload needs ?seq=<number>") from None
    data = request.get_data()
    # The store checks, in the transaction that appends, that this agent holds the stage now:
    # an agent whose stage was requeued must not write into the next attempt's log.
    if services.stores.logs.append(step_id, seq, data, agent_id=agent.id):
        services.livelog.publish(step_id, seq, data)
    return jsonify({"ok": True})


@rpc_bp.post("/stages/<int:stage_id>/done")
def done(stage_id: int):
    stage = _owned_stage(stage_id)
    data = _json()
    status = str(data.get("status", ""))
    if status not in DONE_STATUSES:
        raise BadRequest(f"a finished stage needs a final status, not {status!r}")
    updates = data.get("steps") or []
    if not isinstance(updates, list) or not all(
        isinstance(u, dict) and isinstance(u.get("id"), int) and u.get("status") for u in updates
    ):
        raise BadRequest('"steps" must be a list of {"id": step id, "status": ...} objects')
    services = current_services()
    for update in updates:
        claims.update_step(services, stage, update["id"], update)
    claims.finish_stage(services, stage, status, str(data.get("error", "")))
    return jsonify({"ok": True})


@rpc_bp.post("/stages/<int:stage_id>/handback")
def handback(stage_id: int):
    """The agent stops without finishing the stage: it goes back to the queue at once."""
    stage = _owned_stage(stage_id)
    services = current_services()
    reason = str(_json().get("reason", "")) or "its agent stopped"
    services.stores.stages.requeue(stage.id, reason, actor=require_agent().name)
    services.wake_agents()
    return jsonify({"ok": True})
