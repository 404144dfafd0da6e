"""Helpers shared by the API modules: request bodies, paging, repository lookup, JSON shapes."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import BadRequest as HTTPBadRequest
from werkzeug.routing import BaseConverter

from runner.core import Build, Repo
from runner.errors import BadRequest, NotFound
from runner.git_urls import redact_url
from runner.server.api import api_bp
from runner.server.auth import require_role
from runner.server.services import current_services
from runner.services import builds as build_actions
from runner.services import deployments as deploy_views
from runner.services.values import MAX_NUMBER, whole_number

# Repository fields never sent by the API.
REPO_HIDDEN = ("forge_token",)
MAX_PER_PAGE = 100


def body() -> dict[str, Any]:
    """The request's JSON object; 400 when the body is not one."""
    data = request.get_json(silent=True)
    if data is None:
        if request.get_data():
            raise BadRequest("the body is not valid JSON")
        return {}
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def int_arg(name: str, default: int, *, low: int = 1, high: int = MAX_NUMBER) -> int:
    """An integer query argument from ``low`` to ``high`` (``whole_number``); ``default`` when
    absent or empty."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return whole_number(raw, f"query argument {name}", low=low, high=high)


def paging() -> tuple[int, int]:
    """``(page, per_page)`` from ``?page=&per_page=``, pages counted from 1."""
    return int_arg("page", 1), int_arg("per_page", 25, high=MAX_PER_PAGE)


class NumberConverter(BaseConverter):
    """``<int:...>`` in routes: a whole number within ``whole_number``'s bounds. A negative or huge
    one is answered 400 with the reason, where Werkzeug's own converter lets a huge number
    through to the database."""

    regex = r"-?\d+"
    part_isolating = True

    def to_python(self, value: str) -> int:
        try:
            return whole_number(value, "the number in the path")
        except BadRequest as exc:
            raise HTTPBadRequest(str(exc)) from None

    def to_url(self, value: Any) -> str:
        return str(int(value))


@api_bp.record_once
def _install_number_converter(state: BlueprintSetupState) -> None:
    # Before any route of the app is bound: blueprints register after the API's first record.
    state.app.url_map.converters["int"] = NumberConverter


def repo_for(owner: str, name: str, role: str) -> Repo:
    """The repository ``owner/name`` after checking the caller holds ``role`` on it."""
    repo: Repo | None = current_services().stores.repos.find(f"{owner}/{name}")
    if repo is None:
        # Check the caller first so an anonymous probe cannot tell 404 from 401.
        from runner.server.auth import require_user

        require_user()
        raise NotFound(f"no repository {owner}/{name}; add it with `runner repo add`")
    require_role(repo, role)
    return repo


def repo_json(repo: Repo, *, with_secret: bool = False) -> dict[str, Any]:
    data = dataclasses.asdict(repo)
    for key in REPO_HIDDEN:
        data.pop(key, None)
    if not with_secret:
        data.pop("webhook_secret", None)
    # Credentials in the clone URL are for the agents; nobody reads them back.
    data["clone_url"] = redact_url(repo.clone_url)
    data["owner"], data["name"] = repo.owner, repo.name
    return data


def build_json(build: Build, *, with_stages: bool = True) -> dict[str, Any]:
    data = dataclasses.asdict(build)
    context = data.get("context")
    if isinstance(context, dict) and context.get("remote_url"):
        context["remote_url"] = redact_url(context["remote_url"])
    if not with_stages:
        data.pop("stages", None)
    else:
        names = build_actions.agent_names(current_services(), build)
        for stage in data["stages"]:
            stage.pop("spec", None)
            stage["agent_name"] = names.get(stage["agent_id"] or 0, "")
        data["deployments"] = deploy_views.build_deployments_json(current_services().stores, build)
    return data


def get_build(repo: Repo, number: int) -> Build:
    """Build ``number`` of ``repo`` with its stages and steps; 404 when there is none."""
    return build_actions.get_build(current_services(), repo, number)
