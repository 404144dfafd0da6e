"""The agent RPC (``/rpc/v1``): how agents take stages, report steps and upload logs.

Every call needs an agent token. An agent may only touch the stages it claimed (403 otherwise).
Every field is checked for its type and range: a wrong one gets 400 with the reason.

- ``POST /claim`` ``{"timeout": s, "labels": {...}, "capacity": n, "version": v}``: long-poll;
  answers with the stage's ``runner.pipeline.payload.StagePayload`` as JSON, at once when
  one is claimable, or as soon as one becomes claimable
  (``QueueSignal`` wake-up, no fixed sleep); 204 when the timeout passes. The agent gets only
  what its *registration* allows: announced labels and capacity narrow it, and labels beyond
  it get 403 with the reason (``runner.server.agents.claim_identity``). A long-poll whose
  agent has closed its connection takes no stage; a stage claimed just as it closed is
  released at once, its attempt not counted.
- ``POST /health`` ``{"unhealthy": reason}``: the agent cannot run stages now (its engine is
  down), or can again (``""``); the admin's agent list shows the reason.
- ``POST /stages/<id>/heartbeat``: renews the lease; answers ``{"cancel": bool, "lost": bool}``
  (``lost``: the stage ended or was requeued meanwhile; stop it and report nothing). A stage
  now held by another agent answers 403, which the agent treats as lost too.
- ``POST /stages/<id>/steps/<step_id>``: a step's status (running, success, failure...), and
  ``deploy``, what the step reported of its deployment (``runner.deploy_report``), written into
  the build's deployment record.
- ``POST /steps/<step_id>/logs?seq=N&elapsed_ms=T``: a batch of log lines as a UTF-8 text body;
  idempotent on (step, seq), so a resend after a lost answer never duplicates lines. ``T``
  (optional) is the batch's time since the step started on the agent's clock; without it the
  server stamps the batch with its own clock, from the step's recorded start.
- ``POST /stages/<id>/done`` ``{"status", "error", "steps"}``: the stage ended; ``steps``
  (optional) carries step updates not sent on their own (``[{"id": step_id, "status", ...}]``),
  recorded first, in order.
- ``POST /stages/<id>/handback`` ``{"reason"}``: the agent stops without finishing it; the
  stage is requeued for another agent, with the reason in the build's history.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from runner.core import DONE_STATUSES, Stage
from runner.errors import BadRequest, Forbidden
from runner.server import claims
from runner.server.agents import claim_identity
from runner.server.auth import require_agent
from runner.server.metrics import metrics_of
from runner.server.rpc_fields import (
    claim_request,
    elapsed_millis,
    record_id,
    seq_number,
    step_fields,
    text,
)
from runner.server.services import current_services
from runner.store.logs import elapsed_since
from runner.store.stages import LEASE_LOST, LEASE_OK

rpc_bp = Blueprint("rpc", __name__)

MAX_HEALTH_REASON = 500  # characters of an agent's "why I cannot run stages" kept
# How often a parked long-poll looks whether its agent is still connected, so that a dead
# agent's request thread is freed without waiting for work to arrive.
CONNECTION_CHECK_EVERY = 5.0


def _owned_stage(stage_id: int) -> Stage:
    agent = require_agent()
    stage: Stage = current_services().stores.stages.get(record_id(stage_id, "stage"))
    if stage.agent_id != agent.id:
        raise Forbidden(f"stage {stage_id} is not claimed by agent {agent.name}")
    return stage


def _json() -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply") from None
    if data is None:
        if request.get_data():
            raise BadRequest("the body is not valid JSON")
        return {}
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _agent_gone() -> bool:
    """Whether the agent has closed the connection of this request (a killed agent's kernel
    closes it): its socket reads as ended. Unknown servers' sockets count as connected."""
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if sock is None:
        return False
    try:
        # An agent waiting for its answer sends nothing more: readable means closed.
        peeked: bytes = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        return peeked == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


@rpc_bp.post("/claim")
def claim() -> ResponseReturnValue:
    agent = require_agent()
    services = current_services()
    ask = claim_request(_json())
    agent = claims.refresh_agent(services, agent, ask.labels, ask.version)
    identity, capacity = claim_identity(agent, ask.labels, ask.capacity)
    stages = services.stores.stages
    deadline = time.monotonic() + ask.timeout
    tried = None
    while True:
        if _agent_gone():
            return Response(status=204)
        generation = services.queue.generation
        if generation != tried:
            tried = generation
            lease = services.settings.lease_seconds
            stage = stages.claim(identity, lease_seconds=lease, capacity=capacity)
            if stage is not None:
                if _agent_gone() and stages.release(stage.id, agent.id):
                    services.wake_agents()  # another agent may take it now
                    return Response(status=204)
                answer = claims.claimed(services, stage)
                return Response(answer.to_json(), mimetype="application/json")
        left = deadline - time.monotonic()
        if left <= 0 or services.stopping.is_set():
            return Response(status=204)
        services.admission.wait_for_work(
            services.queue, generation, min(left, CONNECTION_CHECK_EVERY)
        )


@rpc_bp.post("/health")
def health() -> ResponseReturnValue:
    agent = require_agent()
    # The reason, or "" when the agent can run stages again.
    reason = text(_json(), "unhealthy", limit=MAX_HEALTH_REASON)
    current_services().stores.agents.touch(agent.id, unhealthy=reason)
    return jsonify({"ok": True})


@rpc_bp.post("/stages/<int:stage_id>/heartbeat")
def heartbeat(stage_id: int) -> ResponseReturnValue:
    agent = require_agent()
    _owned_stage(stage_id)
    services = current_services()
    answer = services.stores.stages.renew_lease(
        stage_id, agent.id, lease_seconds=services.settings.lease_seconds
    )
    return jsonify({"cancel": answer != LEASE_OK, "lost": answer == LEASE_LOST})


@rpc_bp.post("/stages/<int:stage_id>/steps/<int:step_id>")
def step_update(stage_id: int, step_id: int) -> ResponseReturnValue:
    stage = _owned_stage(stage_id)
    fields = step_fields(_json())
    claims.update_step(current_services(), stage, record_id(step_id, "step"), fields)
    return jsonify({"ok": True})


@rpc_bp.post("/steps/<int:step_id>/logs")
def logs(step_id: int) -> ResponseReturnValue:
    agent = require_agent()
    services = current_services()
    step_id = record_id(step_id, "step")
    seq = seq_number(request.args.get("seq"))
    elapsed = elapsed_millis(request.args.get("elapsed_ms"))
    if elapsed is None:
        elapsed = elapsed_since(services.stores.steps.get(step_id).started)
    data = request.get_data()
    started = time.perf_counter()
    # The store checks, in the transaction that appends, that this agent holds the stage now:
    # an agent whose stage was requeued must not write into the next attempt's log.
    stored = services.stores.logs.append(step_id, seq, data, agent_id=agent.id, elapsed_ms=elapsed)
    if stored:
        services.livelog.publish(step_id, seq, data, elapsed)
    metrics_of(services).observe_log_write(len(data), time.perf_counter() - started, stored)
    return jsonify({"ok": True})


@rpc_bp.post("/stages/<int:stage_id>/done")
def done(stage_id: int) -> ResponseReturnValue:
    stage = _owned_stage(stage_id)
    data = _json()
    status = data.get("status", "")
    if not isinstance(status, str) or status not in DONE_STATUSES:
        raise BadRequest(f"a finished stage needs a final status, not {status!r}")
    updates = data.get("steps") or []
    if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
        raise BadRequest('"steps" must be a list of {"id": step id, "status": ...} objects')
    checked = [_step_update(index, u) for index, u in enumerate(updates)]
    error = text(data, "error", limit=64 * 1024)
    services = current_services()
    for step_id, fields in checked:
        claims.update_step(services, stage, step_id, fields)
    claims.finish_stage(services, stage, status, error)
    return jsonify({"ok": True})


def _step_update(index: int, update: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        return record_id(update.get("id"), "step"), step_fields(update)
    except BadRequest as exc:
        raise BadRequest(f"steps[{index}]: {exc}") from None


@rpc_bp.post("/stages/<int:stage_id>/handback")
def handback(stage_id: int) -> ResponseReturnValue:
    """The agent stops without finishing the stage: it goes back to the queue at once."""
    stage = _owned_stage(stage_id)
    services = current_services()
    reason = text(_json(), "reason", limit=1000) or "its agent stopped"
    if services.stores.stages.requeue(stage.id, reason, actor=require_agent().name):
        metrics_of(services).stages_taken_back.labels("handed_back").inc()
    services.wake_agents()
    return jsonify({"ok": True})
