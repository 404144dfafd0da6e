"""Actions on builds: trigger (manual), cancel, restart, approve, decline, promote, rollback.

Every action names the acting user; the store records it in the build's history (who
cancelled, approved or declined) and the new build's sender (who triggered, restarted or
promoted), and the event log gets its entry (new builds are recorded by the Triggerer).
Agents are woken whenever a stage may have become claimable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.core import DONE_STATUSES, Build, Repo, User
from runner.errors import BadRequest, Conflict, NotFound
from runner.services.context import Hub
from runner.services.events import record_build

DEPLOY_EVENTS = ("promote", "rollback")


def get_build(hub: Hub, repo: Repo, number: int) -> Build:
    """Build ``number`` of ``repo`` with its stages and steps; ``NotFound`` when there is none."""
    try:
        build: Build = hub.stores.builds.get_by_number(repo.id, number)
    except NotFound:
        raise NotFound(f"{repo.slug} has no build {number}") from None
    return build


def agent_names(hub: Hub, build: Build) -> dict[int, str]:
    """The names of the agents that ran (or run) ``build``'s stages, by agent id; an agent
    removed since is left out."""
    ids = [stage.agent_id for stage in build.stages if stage.agent_id is not None]
    names: dict[int, str] = hub.stores.agents.names(ids)
    return names


def trigger(
    hub: Hub,
    repo: Repo,
    actor: User,
    *,
    branch: str = "",
    commit: str = "",
    params: Mapping[str, object] | None = None,
) -> Build:
    """A ``custom`` build of ``branch`` (default: the repository's) at ``commit`` or its tip,
    sent by ``actor``; ``params`` become the build's parameters (text). ``BadRequest`` when
    ``params`` is not a mapping, ``NotFound`` when the branch or commit does not exist."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise BadRequest("params must be an object of NAME: value")
    build: Build = _triggerer(hub).manual(
        repo,
        branch=branch or repo.default_branch,
        commit=commit,
        sender=actor.login,
        params={str(k): str(v) for k, v in params.items()},
    )
    hub.wake_agents()
    return build


def cancel(hub: Hub, build: Build, actor: User) -> Build:
    """Cancel ``build``, recorded as done by ``actor``: stages not started are killed, running
    ones are stopped by their agent at its next heartbeat. A finished build stays as it is."""
    cancelled: Build = hub.stores.builds.cancel(build.id, actor=actor.login)
    if build.status not in DONE_STATUSES:  # cancelling a finished build changes nothing
        record_build(hub.stores, cancelled, "cancelled", actor.login, "cancelled")
    hub.wake_agents()
    return cancelled


def restart(hub: Hub, repo: Repo, build: Build, actor: User) -> Build:
    """A new build of ``build``'s event and commit, sent by ``actor``; the pipeline file is
    read again."""
    new: Build = _triggerer(hub).restart(repo, build, sender=actor.login)
    hub.wake_agents()
    return new


def approve(hub: Hub, build: Build, actor: User) -> Build:
    """Let a blocked build run (recorded as ``actor``'s approval); ``Conflict`` when it is not
    waiting for approval."""
    approved: Build = hub.stores.builds.approve(build.id, actor.login)
    record_build(hub.stores, approved, "approved", actor.login, "approved")
    hub.wake_agents()
    return approved


def decline(hub: Hub, build: Build, actor: User) -> Build:
    """Refuse a blocked build (recorded as ``actor``'s decision); ``Conflict`` when it is not
    waiting for approval."""
    declined: Build = hub.stores.builds.decline(build.id, actor.login)
    record_build(hub.stores, declined, "declined", actor.login, "declined")
    return declined


def promote(
    hub: Hub, repo: Repo, build: Build, actor: User, *, target: str, event: str = "promote"
) -> Build:
    """A ``promote`` or ``rollback`` build of ``build``'s commit to the environment ``target``
    of ``repo``, sent by ``actor``. ``BadRequest`` for another event or no target,
    ``NotFound`` when the repository has no such environment."""
    if event not in DEPLOY_EVENTS:
        raise BadRequest(f"event {event!r} is neither promote nor rollback")
    target = target.strip()
    if not target:
        raise BadRequest(f'a {event} needs a target environment: {{"target": "production"}}')
    if hub.stores.environments.find(repo.id, target) is None:
        raise NotFound(f"no environment {target!r}; list them with `runner env ls`")
    new: Build = _triggerer(hub).promote(
        repo, build, target=target, event=event, sender=actor.login
    )
    hub.wake_agents()
    return new


def _triggerer(hub: Hub) -> Any:
    if hub.triggerer is None:
        raise Conflict("this server makes no builds (it runs without a triggerer)")
    return hub.triggerer
