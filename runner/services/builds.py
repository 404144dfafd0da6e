"""Actions on builds: trigger (manual), cancel, restart, re-run failed stages, approve,
decline, promote, rollback.

Every action names the acting user; the store records it in the build's history (who
cancelled, approved or declined) and the new build's sender (who triggered, restarted or
promoted), and the event log gets its entry (new builds are recorded by the Triggerer).
Agents are woken whenever a stage may have become claimable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runner.core import DONE_STATUSES, SUCCESS, Build, Repo, Stage, User
from runner.errors import BadRequest, Conflict, NotFound
from runner.services.context import Hub
from runner.services.events import record_build

DEPLOY_EVENTS = ("promote", "rollback")
# Parameters of a manual build become environment variables of its steps: a name a shell can
# export, and bounds so one request cannot make every step's environment huge.
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_PARAMS = 50
MAX_PARAM_NAME = 100
MAX_PARAM_VALUE = 4096
# Stage outcomes a re-run of the failed stages runs again.
FAILED_STAGES = ("failure", "killed", "error")


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


def check_params(params: object) -> dict[str, str]:
    """``params`` as a build's parameters: at most ``MAX_PARAMS`` of ``NAME: value`` with
    environment variable names (letters, digits, ``_``, not starting with a digit) and
    values of text, numbers or booleans up to ``MAX_PARAM_VALUE`` characters; ``BadRequest``
    naming the first wrong one."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise BadRequest("params must be an object of NAME: value")
    if len(params) > MAX_PARAMS:
        raise BadRequest(f"a build takes at most {MAX_PARAMS} parameters")
    out: dict[str, str] = {}
    for key, value in params.items():
        name = str(key)
        if len(name) > MAX_PARAM_NAME or not PARAM_NAME.match(name):
            raise BadRequest(
                f"parameter {name[:40]!r} is not an environment variable name: use letters, "
                "digits and '_', not starting with a digit, e.g. DEPLOY_TARGET"
            )
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise BadRequest(f"parameter {name} must be text, a number or true/false")
        text = str(value)
        if len(text) > MAX_PARAM_VALUE:
            raise BadRequest(f"parameter {name} has more than {MAX_PARAM_VALUE} characters")
        if "\x00" in text:  # no process environment can hold it
            raise BadRequest(f"parameter {name} holds a NUL character")
        out[name] = text
    return out


def trigger(
    hub: Hub,
    repo: Repo,
    actor: User,
    *,
    branch: str = "",
    tag: str = "",
    commit: str = "",
    params: Mapping[str, object] | None = None,
) -> Build:
    """A ``custom`` build of ``branch`` (default: the repository's) or ``tag``, at ``commit``
    or the ref's tip, sent by ``actor``; ``params`` (``check_params``) become environment
    variables of its steps. ``BadRequest`` for bad params or both a branch and a tag,
    ``NotFound`` when the branch, tag or commit does not exist."""
    checked = check_params(params)
    if branch and tag:
        raise BadRequest("name a branch or a tag, not both")
    build: Build = _triggerer(hub).manual(
        repo,
        branch=branch or ("" if tag else repo.default_branch),
        tag=tag,
        commit=commit,
        sender=actor.login,
        params=checked,
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


def stages_to_rerun(build: Build) -> list[str]:
    """The names of ``build``'s stages a re-run of its failed stages runs again: the failed,
    killed and errored ones, every stage that did not succeed, and the stages that depend on
    any of those (transitively). ``Conflict`` when the build is not finished or has no failed
    stage."""
    if build.status not in DONE_STATUSES:
        raise Conflict(f"build #{build.number} is still {build.status}; wait for it or cancel it")
    failed = {s.name for s in build.stages if s.status in FAILED_STAGES}
    if not failed:
        raise Conflict(
            f"build #{build.number} has no failed stage to run again; restart it as a whole"
        )
    again = {s.name for s in build.stages if s.status != SUCCESS}
    grew = True
    while grew:  # stages depending on one that runs again run again too
        more = {s.name for s in build.stages if set(s.depends_on) & again} - again
        again |= more
        grew = bool(more)
    return [s.name for s in build.stages if s.name in again]


def rerun_failed(hub: Hub, repo: Repo, build: Build, actor: User) -> Build:
    """A new build of ``build``'s event and commit, sent by ``actor``, that runs only
    ``stages_to_rerun(build)``; the other stages are carried over with their results (their
    logs stay on ``build``). The pipeline file is read again at the same commit; a stage the
    file no longer has is not carried. ``Conflict`` as ``stages_to_rerun``."""
    again = set(stages_to_rerun(build))
    keep: dict[str, Stage] = {s.name: s for s in build.stages if s.name not in again}
    new: Build = _triggerer(hub).rerun_failed(repo, build, keep=keep, sender=actor.login)
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
