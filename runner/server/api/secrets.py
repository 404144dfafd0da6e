"""Repository secrets: add, list, update and delete. Values go in and never come out."""

from __future__ import annotations

import dataclasses
import re

from flask import jsonify, request

from runner.core import ROLE_ADMIN
from runner.errors import BadRequest, Conflict, NotFound
from runner.server.api import api_bp
from runner.server.api.common import body, repo_for
from runner.server.services import current_services

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
EVENTS = ("push", "tag", "pull_request", "cron", "custom", "promote", "rollback")


def _options(data: dict) -> dict:
    out = {}
    if "events" in data:
        events = data["events"]
        if not isinstance(events, list) or not all(e in EVENTS for e in events):
            raise BadRequest(f"events must be a list of {', '.join(EVENTS)}")
        out["events"] = events
    if "images" in data:
        if not isinstance(data["images"], list):
            raise BadRequest("images must be a list of image names (globs allowed)")
        out["images"] = [str(i) for i in data["images"]]
    if "allow_pull_request" in data:
        out["allow_pull_request"] = bool(data["allow_pull_request"])
    if "environment" in data:
        out["environment"] = str(data["environment"])
    return out


@api_bp.get("/repos/<owner>/<name>/secrets")
def list_secrets(owner: str, name: str):
    repo = repo_for(owner, name, ROLE_ADMIN)
    return jsonify([dataclasses.asdict(s) for s in current_services().stores.secrets.list(repo.id)])


def _value(data: dict) -> str:
    value = data.get("value")
    if not isinstance(value, str) or value == "":
        raise BadRequest("a secret needs a non-empty string value")
    return value


@api_bp.post("/repos/<owner>/<name>/secrets")
def add_secret(owner: str, name: str):
    repo = repo_for(owner, name, ROLE_ADMIN)
    data = body()
    secret_name = str(data.get("name", ""))
    if not NAME.match(secret_name):
        raise BadRequest("a secret needs a name of letters, digits, '_', '.' or '-'")
    value = _value(data)
    options = _options(data)
    stores = current_services().stores
    if stores.secrets.find(repo.id, secret_name, options.get("environment", "")) is not None:
        raise Conflict(f"secret {secret_name} exists; replace it with PUT")
    secret = stores.secrets.set(repo.id, secret_name, value, **options)
    return jsonify(dataclasses.asdict(secret)), 201


@api_bp.put("/repos/<owner>/<name>/secrets/<secret_name>")
def replace_secret(owner: str, name: str, secret_name: str):
    repo = repo_for(owner, name, ROLE_ADMIN)
    data = body()
    options = _options(data)
    stores = current_services().stores
    if stores.secrets.find(repo.id, secret_name, options.get("environment", "")) is None:
        raise NotFound(f"no secret {secret_name} in {repo.slug}; add it with POST")
    secret = stores.secrets.set(repo.id, secret_name, _value(data), **options)
    return jsonify(dataclasses.asdict(secret))


@api_bp.delete("/repos/<owner>/<name>/secrets/<secret_name>")
def delete_secret(owner: str, name: str, secret_name: str):
    repo = repo_for(owner, name, ROLE_ADMIN)
    environment = request.args.get("environment", "")
    stores = current_services().stores
    if stores.secrets.find(repo.id, secret_name, environment) is None:
        raise NotFound(f"no secret {secret_name} in {repo.slug}")
    stores.secrets.delete(repo.id, secret_name, environment)
    return jsonify({"ok": True})
