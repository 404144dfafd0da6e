"""What the pages read, through the stores of ``current_services()``: store calls, and why a
pending stage waits."""

from __future__ import annotations

import time
from typing import Any

from runner import labels as label_rules
from runner.approval_rules import required_approvals, waiting_text
from runner.core import PENDING, Agent, Build, Repo, Stage, User
from runner.pipeline.readiness import waiting_for
from runner.server import auth
from runner.server.services import current_services
from runner.services import builds as build_actions
from runner.services.build_filters import BuildFilter

# An agent not heard from for this long is not counted as able to take work.
AGENT_STALE_SECONDS = 120


def stores() -> Any:
    """The stores of the running application (a ``runner.store.Stores``, which the pages may
    not import: they reach it as the services' ``Hub.stores``)."""
    return current_services().stores


def find_repo(owner: str, name: str) -> Repo | None:
    """The repository ``owner/name`` or None."""
    repo: Repo | None = stores().repos.find(f"{owner}/{name}")
    return repo


def visible_repos(user: User) -> list[Repo]:
    """The repositories ``user`` may read, by slug."""
    repos = [r for r in stores().repos.matching(active_only=True) if auth.role_of(user, r)]
    return sorted(repos, key=lambda r: r.slug)


def last_builds_per_branch(repo_id: int, limit: int = 12) -> list[Build]:
    """The newest build of each branch (or tag) of a repository, newest first, at most ``limit``."""
    builds: list[Build] = stores().builds.newest_per_branch(repo_id, limit)
    return builds


def last_builds_per_pull_request(repo_id: int, limit: int = 12) -> list[Build]:
    """The newest build of each pull request of a repository, newest first, at most ``limit``."""
    builds: list[Build] = stores().builds.newest_per_pull_request(repo_id, limit)
    return builds


def last_build_of_branch(repo_id: int, branch: str) -> Build | None:
    """The newest build of ``branch`` (pull requests excluded), or None."""
    build: Build | None = stores().builds.newest_of_branch(repo_id, branch)
    return build


def list_builds(
    repo_id: int, *, page: int, per_page: int, chosen: BuildFilter | None = None
) -> tuple[list[Build], bool]:
    """One page of builds, newest first, and whether an older page exists; filtered by
    ``chosen`` (``runner.services.build_filters``) in the store."""
    found: list[Build] = stores().builds.page_of_repo(
        repo_id, page=page, per_page=per_page + 1, **(chosen or BuildFilter()).store_args()
    )
    return found[:per_page], len(found) > per_page


def get_build(repo: Repo, number: int) -> Build:
    """The build with its stages and steps; NotFound when there is none."""
    return build_actions.get_build(current_services(), repo, number)


def agent_names(build: Build) -> dict[int, str]:
    """The names of the agents that ran (or run) the build's stages, by agent id."""
    return build_actions.agent_names(current_services(), build)


def log_tail(step_id: int, max_lines: int, *, after: int = -1) -> Any:
    """The end of a step's stored log (of its chunks after ``after``) as the store's
    ``LogTail``: at most ``max_lines`` lines and the server's ``log_view_bytes`` of text, with
    exact line numbers."""
    return stores().logs.tail(
        step_id,
        max_bytes=current_services().settings.log_view_bytes,
        max_lines=max_lines,
        after=after,
    )


def wait_reasons(build: Build, agents: list[Agent] | None = None) -> dict[int, str]:
    """Why each pending stage of ``build`` has not started, keyed by stage id.

    A stage waits on its dependencies, on an approval, or on an agent whose labels fit; the
    last is checked against the agents seen recently ("waiting for an agent with env=production").
    """
    if agents is None:
        agents = stores().agents.all_agents()
    now = time.time()
    live = [a for a in agents if now - (a.last_contact or 0) < AGENT_STALE_SECONDS]
    by_name = {s.name: s for s in build.stages}
    reasons: dict[int, str] = {}
    for stage in build.stages:
        reason = _wait_reason(stage, by_name, live)
        if reason == "waiting for approval":
            reason = _approval_wait(build)
        if reason:
            reasons[stage.id] = reason
    return reasons


def _approval_wait(build: Build) -> str:
    """ "waiting for approval", or with several approvers required "waiting for 1 more
    approval (2 required)" (``runner.approval_rules``)."""
    env = stores().environments.find(build.repo_id, build.target) if build.target else None
    required = required_approvals(env)
    if required <= 1:
        return "waiting for approval"
    approvers = {a.login for a in stores().approvals.of_build(build.id) if a.decision == "approved"}
    return waiting_text(len(approvers), required)


def _wait_reason(stage: Stage, by_name: dict[str, Stage], agents: list[Agent]) -> str:
    if stage.status == "blocked":
        return "waiting for approval"
    if stage.status not in (PENDING, "waiting"):
        return ""
    unfinished = waiting_for(stage.depends_on, {name: s.status for name, s in by_name.items()})
    if unfinished:
        return "waiting for " + ", ".join(unfinished)
    if stage.error:
        return stage.error
    if not any(label_rules.matches(stage.labels, a.labels) for a in agents):
        return f"no agent with {_wanted(stage.labels)}" if stage.labels else "no agent connected"
    if all(a.running >= a.capacity for a in agents if label_rules.matches(stage.labels, a.labels)):
        return "waiting for a free agent"
    return "queued"


def _wanted(stage_labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(stage_labels.items()))
