"""What the RPC does with a claimed stage: its payload for the agent, step and stage reports.

Kept apart from the Flask views so the rules (which secrets a stage gets, what "cancel" means,
what a finished stage unblocks) read in one place.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from runner.core import DONE_STATUSES, Agent, Build, Repo, Stage
from runner.errors import NotFound
from runner.labels import beyond, format_labels, matches
from runner.pipeline.payload import BuildRef, RepoRef, StagePayload, StageRef, StepRef
from runner.pipeline.registry_auth import RegistryAuth, image_host, needed, pull_secret_auths
from runner.pipeline.spec import BuildContext, SecretRef, StepSpec
from runner.pipeline.trust import FORK, is_plugin, stage_trust
from runner.server.metrics import metrics_of
from runner.server.services import Services
from runner.server.status import status_reporter
from runner.services.agents import subject
from runner.store.stages import ClaimedStage

log = logging.getLogger(__name__)

STEP_FIELDS = ("status", "exit_code", "started", "finished", "error")
CONTACT_EVERY = 5.0  # seconds between recorded contacts of an agent that changed nothing


def claimed(services: Services, stage: Stage) -> StagePayload:
    """What follows a claim: the forge hears of a build that became running, and the agent
    gets the stage's ``payload``."""
    build = services.stores.builds.header(stage.build_id)
    # The claim that started the build stamped both with the same time. Later stages leave
    # the build's status as it was: queueing a report for each would have the reporter load
    # the whole build (every stage's spec) once per claim, for nothing to send.
    if build.started == stage.started:
        status_reporter(services).build_changed(build.id)
    metrics_of(services).observe_claim(stage)
    return payload(services, stage, build)


def payload(services: Services, stage: Stage, build: Build | None = None) -> StagePayload:
    """The claim answer: the stage, its steps, its spec, build context and resolved secrets.

    The spec is the stored one with this claim's fields set: the repository's timeout, and
    each secret reference renamed ``<step index>/<name>``, with its value under that key in
    ``secrets``. Secrets are resolved per step, for that step's image and the build's event: a
    secret restricted to images never reaches a step of another image, nor one that sets
    commands or an entrypoint. Secrets of the build's environment go only to an agent whose
    *registered* labels fit the environment's labels. Each secret a step asked for and does
    not get is named in ``withheld`` with the store's reason, so its log can say why.
    ``build`` is the stage's build when the caller has it already.
    """
    stores = services.stores
    build = build or stores.builds.header(stage.build_id)
    repo = stores.repos.get(build.repo_id)
    environment = build.target if _may_see_environment(services, stage, repo.id, build) else ""
    resolved: dict[str, str] = {}
    withheld: dict[str, dict[str, str]] = {}

    def with_secrets(index: int, step: StepSpec) -> StepSpec:
        if not step.secrets:
            return step
        allowed = stores.secrets.values_for(
            repo.id,
            event=build.event,
            image=step.image,
            environment=environment,
            pull_request=build.event == "pull_request",
            plugin=is_plugin(step),
        )
        kept = []
        missing: list[str] = []
        for ref in step.secrets:
            wanted = [p for i, p in enumerate(ref.parts) if i % 2] if ref.parts else [ref.name]
            # names are case-insensitive, as in Drone
            missing += [n for n in wanted if n.lower() not in allowed and n not in missing]
            if ref.parts:
                kept.append(_substituted(ref, index, allowed, resolved))
            elif ref.name.lower() in allowed:
                key = f"{index}/{ref.name}"
                resolved[key] = allowed[ref.name.lower()]
                kept.append(dataclasses.replace(ref, name=key))
        if missing:
            withheld[step.name] = stores.secrets.refusals(
                repo.id,
                missing,
                event=build.event,
                image=step.image,
                environment=environment,
                pull_request=build.event == "pull_request",
                plugin=is_plugin(step),
                target=build.target,
            )
        return dataclasses.replace(step, secrets=kept)

    spec = stage.spec
    # Services come first in the numbering of secret references, then the steps.
    services_first = [with_secrets(i, step) for i, step in enumerate(spec.services)]
    offset = len(spec.services)
    steps = [with_secrets(offset + i, step) for i, step in enumerate(spec.steps)]
    return StagePayload(
        stage=StageRef(
            id=stage.id,
            build_id=stage.build_id,
            number=stage.number,
            name=stage.name,
            steps=[StepRef(id=s.id, name=s.name, number=s.number) for s in stage.steps],
        ),
        build=BuildRef(
            id=build.id,
            number=build.number,
            event=build.event,
            started=float(build.started),
            stages=(
                stage.build_statuses
                if isinstance(stage, ClaimedStage)
                else stores.stages.statuses(build.id)
            ),
        ),
        repo=RepoRef(slug=repo.slug, clone_url=repo.clone_url),
        context=BuildContext.from_dict(build.context or {}),
        # The repository's timeout is every stage's timeout, as Drone's is: the agent stops
        # the stage when it passes (and the server's reaper ends it, should the agent not).
        spec=dataclasses.replace(spec, timeout=repo.timeout, services=services_first, steps=steps),
        secrets=resolved,
        withheld=withheld,
        registries=_registries(services, stage, build, repo, environment),
    )


def _registries(
    services: Services, stage: Stage, build: Build, repo: Repo, environment: str
) -> list[RegistryAuth]:
    """The credentials the stage's images are pulled with, only those of hosts its images are
    on: first its Drone pull secrets (secrets of Docker config JSON, given as any secret is
    for the build's event, so a pull request gets only those that allow pull requests, as in
    Drone), then the repository's registries (Woodpecker's; Drone's registry credentials
    beside its pull secrets), which go to every build but a fork's pull request: Woodpecker
    runs those only once approved (its default approval mode, "forks"), and no one approves
    them here."""
    spec = stage.spec
    stores = services.stores
    found: list[RegistryAuth] = []
    if spec.pull_secrets:
        values = stores.secrets.values_for(
            repo.id,
            event=build.event,
            environment=environment,
            pull_request=build.event == "pull_request",
        )
        found += pull_secret_auths(spec.pull_secrets, values)
    images = [s.image for s in [*spec.services, *spec.steps]]
    if stage_trust(spec) != FORK:
        found += stores.registries.credentials_of(repo.id, {image_host(i) for i in images if i})
    return needed(images, found)


def _substituted(
    ref: SecretRef, index: int, allowed: dict[str, str], resolved: dict[str, str]
) -> SecretRef:
    """A Drone 0.8 substituted variable (``SecretRef.parts``) for the agent: each secret the
    step may see renamed ``<step index>/<name>`` with its value in ``resolved``; one it may not
    see (image filter, event) is empty, as an unknown variable is in the file."""
    parts: list[str] = []
    text = ""
    for i, part in enumerate(ref.parts):
        if i % 2 == 0:
            text += part
        elif part.lower() in allowed:
            key = f"{index}/{part}"
            resolved[key] = allowed[part.lower()]
            parts += [text, key]
            text = ""
    parts.append(text)
    return dataclasses.replace(ref, name=parts[1] if len(parts) > 1 else "", parts=parts)


def _may_see_environment(services: Services, stage: Stage, repo_id: int, build: Build) -> bool:
    """Whether the agent holding ``stage`` may get the secrets of the build's environment:
    its registered labels (never what it announced) must fit the environment's labels."""
    if not build.target:
        return False
    env = services.stores.environments.find(repo_id, build.target)
    if env is None or not env.labels:
        return True
    if stage.agent_id is None:
        return False
    return matches(env.labels, services.stores.agents.get(stage.agent_id).labels)


def refresh_agent(
    services: Services, agent: Agent, declared: dict[str, str] | None, version: str | None
) -> Agent:
    """Record the agent's contact, the labels it announces (shown, never routed on) and its
    version. An announcement beyond the registration is logged and goes into the audit log
    once, when it first differs from the last one."""
    fields: dict[str, Any] = {}
    if declared is not None and declared != agent.declared_labels:
        fields["declared_labels"] = declared
        extra = beyond(agent.labels, declared)
        if extra:
            message = (
                f"announced {', '.join(extra)} beyond its registration "
                f"({format_labels(agent.labels)}): no stage handed out"
            )
            log.warning("agent %s %s", agent.name, message)
            services.stores.audit.record("agent.refused", subject(agent.name), message, agent.name)
    if version is not None and version != agent.version:
        fields["version"] = version
    # Every claim announces the same values: a write per claim would queue busy agents behind
    # SQLite's write lock just to say nothing changed. Contact is recorded every few seconds.
    if not fields and time.time() - agent.last_contact < CONTACT_EVERY:
        return agent
    return services.stores.agents.touch(agent.id, **fields)


def update_step(services: Services, stage: Stage, step_id: int, data: dict[str, Any]) -> None:
    """Record a step's new status (and exit code, times, error) reported by the agent."""
    if not any(s.id == step_id for s in stage.steps):
        raise NotFound(f"stage {stage.id} has no step {step_id}")
    fields = {k: data[k] for k in STEP_FIELDS if k in data}
    step = services.stores.steps.update(step_id, **fields)
    if data.get("deploy"):  # checked by rpc_fields.deploy_fields
        services.stores.deployments.report(stage.build_id, data["deploy"])
    if step.status in DONE_STATUSES:
        # Its last lines were uploaded before this report: live readers can finish.
        services.livelog.end(step_id)


def finish_stage(services: Services, stage: Stage, status: str, error: str) -> None:
    """Record the stage's end; dependents become claimable, so waiting agents are woken."""
    build = services.stores.stages.done(stage.id, status, error=error, agent_id=stage.agent_id)
    metrics_of(services).stages_finished.labels(status).inc()
    services.wake_agents()
    status_reporter(services).build_changed(build.id)
