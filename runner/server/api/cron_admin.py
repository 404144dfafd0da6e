"""Turning a cron job on and off, and running it now (``runner cron enable|disable|run``).

- ``PATCH /repos/<o>/<n>/crons/<cron>`` ``{"enabled": true|false}`` (write): the scheduler
  skips a disabled job and keeps it with its history.
- ``POST /repos/<o>/<n>/crons/<cron>/run`` (write): the job's build now, at its branch tip,
  as the scheduler would make it (event ``cron``); 201 with the build.
"""

from __future__ import annotations

import dataclasses

from flask import jsonify
from flask.typing import ResponseReturnValue

from runner.core import ROLE_WRITE, Cron, Repo
from runner.errors import BadRequest, NotFound
from runner.server.api import api_bp
from runner.server.api.common import body, build_json, flag, repo_for
from runner.server.services import current_services


def _job(repo: Repo, cron_name: str) -> Cron:
    job: Cron | None = current_services().stores.crons.find(repo.id, cron_name)
    if job is None:
        raise NotFound(f"{repo.slug} has no cron job {cron_name}; see `runner cron ls`")
    return job


@api_bp.patch("/repos/<owner>/<name>/crons/<cron_name>")
def switch_cron(owner: str, name: str, cron_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    job = _job(repo, cron_name)
    data = body()
    if set(data) != {"enabled"}:
        raise BadRequest('send {"enabled": true} or {"enabled": false}')
    job = current_services().stores.crons.update(job.id, enabled=flag(data["enabled"], "enabled"))
    return jsonify(dataclasses.asdict(job))


@api_bp.post("/repos/<owner>/<name>/crons/<cron_name>/run")
def run_cron_now(owner: str, name: str, cron_name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_WRITE)
    job = _job(repo, cron_name)
    services = current_services()
    build = services.triggerer.cron(repo, job)
    services.stores.crons.mark_run(job.id)
    services.wake_agents()
    return jsonify(build_json(build)), 201
