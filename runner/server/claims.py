"""What the RPC does with a claimed stage: its payload for the agent, step and stage reports.

Kept apart from the Flask views so the rules (which secrets a stage gets, what "cancel" means,
what a finished stage unblocks) read in one place.
"""

from __future__ import annotations

import copy
from typing import Any

from runner.core import DONE_STATUSES, KILLED, Agent, Stage
from runner.errors import Forbidden, NotFound
from runner.server.services import Services

STEP_FIELDS = ("status", "exit_code", "started", "finished", "error")


def payload(services: Services, stage: Stage) -> dict[str, Any]:
    """The claim answer: the stage, its steps, its spec, build context and resolved secrets.

    Secrets are resolved per step, for that step's image and the build's event: a secret
    restricted to one image never reaches a step of another image. Each reference is renamed
    ``<step index>/<name>`` in the spec sent, with its value under that key in ``secrets``.
    """
    stores = services.stores
    build = stores.builds.get(stage.build_id)
    repo = stores.repos.get(build.repo_id)
    spec = copy.deepcopy(stage.spec)
    context = dict(build.context or {})
    resolved: dict[str, str] = {}
    for index, step in enumerate(spec.get("services", []) + spec.get("steps", [])):
        refs = step.get("secrets") or []
        if not refs:
            continue
        allowed = stores.secrets.values_for(
            repo.id,
            event=build.event,
            image=step.get("image", ""),
            environment=build.target,
            pull_request=build.event == "pull_request",
        )
        kept = []
        for ref in refs:
            if ref["name"] in allowed:
                key = f"{index}/{ref['name']}"
                resolved[key] = allowed[ref["name"]]
                kept.append({"env": ref["env"], "name": key})
        step["secrets"] = kept
    return {
        "stage": {
            "id": stage.id,
            "build_id": stage.build_id,
            "number": stage.number,
            "name": stage.name,
            "steps": [{"id": s.id, "name": s.name, "number": s.number} for s in stage.steps],
        },
        "build": {"id": build.id, "number": build.number, "event": build.event},
        "repo": {"slug": repo.slug, "clone_url": repo.clone_url},
        "context": context,
        "spec": spec,
        "secrets": resolved,
        "environ": {},
    }


def cancel_requested(services: Services, stage: Stage) -> bool:
    """True when the stage (or its build) was cancelled by a user."""
    if stage.status == KILLED:
        return True
    build = services.stores.builds.get(stage.build_id)
    return build is not None and build.status == KILLED


def check_step_owner(services: Services, agent: Agent, step_id: int) -> None:
    """Refuse (403/404) a step that is not in a stage claimed by ``agent``.

    The answer is cached per process: a step never changes stage, and a stage changes agent only
    when requeued, after which the old agent's uploads are refused by the stage check anyway.
    """
    owners = services.extras.setdefault("step_owner", {})
    key = (agent.id, step_id)
    if owners.get(key):
        return
    step = services.stores.steps.get(step_id)
    if step is None:
        raise NotFound(f"no step {step_id}")
    stage = services.stores.stages.get(step.stage_id)
    if stage is None or stage.agent_id != agent.id:
        raise Forbidden(f"step {step_id} is not in a stage claimed by agent {agent.name}")
    if len(owners) > 100_000:
        owners.clear()
    owners[key] = True


def update_step(services: Services, stage: Stage, step_id: int, data: dict[str, Any]) -> None:
    """Record a step's new status (and exit code, times, error) reported by the agent."""
    if not any(s.id == step_id for s in stage.steps):
        raise NotFound(f"stage {stage.id} has no step {step_id}")
    fields = {k: data[k] for k in STEP_FIELDS if k in data}
    services.stores.steps.update(step_id, **fields)


def finish_stage(services: Services, stage: Stage, status: str, error: str) -> None:
    """Record the stage's end; dependents become claimable, so waiting agents are woken."""
    if stage.status not in DONE_STATUSES or stage.status == KILLED:
        services.stores.stages.finish(stage.id, status, error=error)
    services.wake_agents()
