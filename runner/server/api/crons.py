"""Cron entries of a repository: list, add, delete. The scheduler picks changes up."""

from __future__ import annotations

import dataclasses
import re

from flask import jsonify

from runner.core import ROLE_READ, ROLE_WRITE
from runner.errors import BadRequest, Conflict, NotFound
from runner.server.api import api_bp
from runner.server.api.common import body, repo_for
from runner.server.services import current_services

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _check_schedule(schedule: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(schedule)
    except ValueError as exc:
        raise BadRequest(
            f"schedule {schedule!r} is not a five-field cron expression: {exc}"
        ) from None


@api_bp.get("/repos/<owner>/<name>/crons")
def list_crons(owner: str, name: str):
    repo = repo_for(owner, name, ROLE_READ)
    return jsonify([dataclasses.asdict(c) for c in current_services().stores.crons.list(repo.id)])


@api_bp.post("/repos/<owner>/<name>/crons")
def add_cron(owner: str, name: str):
    repo = repo_for(owner, name, ROLE_WRITE)
    data = body()
    cron_name = str(data.get("name", ""))
    if not NAME.match(cron_name):
        raise BadRequest("a cron entry needs a name of letters, digits, '_', '.' or '-'")
    schedule = str(data.get("schedule", ""))
    _check_schedule(schedule)
    services = current_services()
    if services.stores.crons.find(repo.id, cron_name) is not None:
        raise Conflict(f"cron {cron_name} exists in {repo.slug}")
    cron = services.stores.crons.create(
        repo.id, cron_name, schedule, branch=str(data.get("branch") or repo.default_branch)
    )
    return jsonify(dataclasses.asdict(cron)), 201


@api_bp.delete("/repos/<owner>/<name>/crons/<cron_name>")
def delete_cron(owner: str, name: str, cron_name: str):
    repo = repo_for(owner, name, ROLE_WRITE)
    services = current_services()
    cron = services.stores.crons.find(repo.id, cron_name)
    if cron is None:
        raise NotFound(f"no cron {cron_name} in {repo.slug}")
    services.stores.crons.delete(cron.id)
    return jsonify({"ok": True})
