"""What is deployed where: a repository's deployment history and the status of each of its
environments, read alike by the API, the web UI and (through the API) the CLI.

Records are written by the store as builds move (``runner.store.deployments``); nothing here
changes them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from runner.core import Build, Repo
from runner.errors import BadRequest
from runner.services.values import MAX_NUMBER, whole_number
from runner.store import Stores
from runner.store.deployments import MAX_PAGE, STATE_CANARY, STATE_LIVE
from runner.store.records import Deployment

DEFAULT_LIMIT = 25
MAX_ENVIRONMENT = 200  # characters of an environment's name (its column)


@dataclass
class EnvironmentStatus:
    """What an environment runs now: its ``live`` record, a ``canary`` beside it (newer than
    the live one), and the newest record whose build has not finished (``deploying``)."""

    environment: str
    live: Deployment | None = None
    canary: Deployment | None = None
    deploying: Deployment | None = None
    exists: bool = True  # False: the environment was removed, its records stay

    def to_dict(self) -> dict[str, Any]:
        """The status as JSON: each record as ``deployment_json`` gives it, or null."""
        return {
            "environment": self.environment,
            "exists": self.exists,
            **{
                key: deployment_json(record) if record else None
                for key, record in (
                    ("live", self.live),
                    ("canary", self.canary),
                    ("deploying", self.deploying),
                )
            },
        }


def deployment_json(record: Deployment) -> dict[str, Any]:
    """A record as the API answers it (every field of ``runner.store.records.Deployment``)."""
    return dataclasses.asdict(record)


def list_deployments(
    stores: Stores,
    repo: Repo,
    *,
    environment: str | None = None,
    limit: object = None,
    before: object = None,
) -> list[Deployment]:
    """``repo``'s deployments, newest first: ``limit`` (1 to 100, default 25) of them, of
    ``environment`` when given, older than the record id ``before`` when given (the next page
    starts before the last id of this one). ``BadRequest`` for a bad limit or cursor."""
    if environment is not None and len(environment) > MAX_ENVIRONMENT:
        raise BadRequest(f"environment names are at most {MAX_ENVIRONMENT} characters")
    count = DEFAULT_LIMIT
    if limit not in (None, ""):
        count = whole_number(limit, "limit", low=1, high=MAX_PAGE)
    cursor = None
    if before not in (None, ""):
        cursor = whole_number(before, "before", low=1, high=MAX_NUMBER)
    found: list[Deployment] = stores.deployments.of_repo(
        repo.id, environment=environment or None, limit=count, before=cursor
    )
    return found


def environment_status(stores: Stores, repo: Repo) -> list[EnvironmentStatus]:
    """The status of each of ``repo``'s environments, in matching order, then those removed
    since that still have a live, canary or unfinished record."""
    names = [env.name for env in stores.environments.of_repo(repo.id)]
    statuses = {name: EnvironmentStatus(name) for name in names}
    for record in stores.deployments.current(repo.id):  # newest first
        status = statuses.get(record.environment)
        if status is None:
            status = statuses[record.environment] = EnvironmentStatus(
                record.environment, exists=False
            )
        if record.finished == 0.0:
            status.deploying = status.deploying or record
        elif record.state == STATE_LIVE:
            status.live = status.live or record
        elif record.state == STATE_CANARY and status.live is None:
            status.canary = status.canary or record
    return list(statuses.values())


def status_of(stores: Stores, repo: Repo, environment: str) -> EnvironmentStatus | None:
    """The status of one environment of ``repo``; None when it neither exists nor has any
    record."""
    for status in environment_status(stores, repo):
        if status.environment == environment:
            return status
    return None


def build_deployments(stores: Stores, build: Build) -> list[Deployment]:
    """Where ``build`` is deployed: its own deployment, and those of the promote and rollback
    builds made from it, oldest first."""
    found: list[Deployment] = stores.deployments.of_build(build.id)
    return found


def build_deployments_json(stores: Stores, build: Build) -> list[dict[str, Any]]:
    """``build_deployments`` as JSON, for the build's own answer."""
    return [deployment_json(r) for r in build_deployments(stores, build)]
