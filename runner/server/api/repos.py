"""Repositories: add, list, get, update settings, and per-user roles (the actions are
``runner.services.repos``'s)."""

from __future__ import annotations

from collections.abc import Callable

from flask import jsonify
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN, ROLE_READ
from runner.errors import BadRequest
from runner.repo_rules import MAX_LOG_RETENTION_DAYS, check_slug
from runner.server.api import api_bp
from runner.server.api.common import body, repo_for, repo_json
from runner.server.auth import has_role, require_admin, require_user, role_of
from runner.server.services import current_services
from runner.services import repos as repo_actions
from runner.services.values import flag, whole_number

# Fields a repository admin may change; `trusted` and a new `clone_url` need a server admin
# (runner.services.repos).
EDITABLE: dict[str, Callable[[object], object]] = {
    "timeout": lambda value: whole_number(value, "timeout", low=1),
    "log_retention_days": lambda value: whole_number(
        value, "log_retention_days", low=0, high=MAX_LOG_RETENTION_DAYS
    ),
    "pipeline_path": str,
    "default_branch": str,
    "private": lambda value: flag(value, "private"),
    "active": lambda value: flag(value, "active"),
    "clone_url": str,
    "forge_token": str,
    "forge_url": str,
    # Lets pull requests from forks run the agents' allow-listed plugins as shipped.
    "fork_privileged": lambda value: flag(value, "fork_privileged"),
    "generic_hook": lambda value: flag(value, "generic_hook"),
}


def _trusted(value: object) -> bool:
    return flag(value, "trusted")


def webhook_url(slug: str) -> str:
    """The address a forge must call for ``slug``."""
    return f"{current_services().settings.effective_server_url()}/hook/{slug}"


@api_bp.get("/repos")
def list_repos() -> ResponseReturnValue:
    user = require_user()
    repos = current_services().stores.repos.matching()
    visible = [r for r in repos if has_role(user, r, ROLE_READ)]
    return jsonify([repo_json(r) for r in visible])


@api_bp.post("/repos")
def add_repo() -> ResponseReturnValue:
    admin = require_admin()
    data = body()
    slug = check_slug(data.get("slug", ""))
    if slug.count("/") != 1:
        raise BadRequest("the API serves repositories OWNER/NAME (one slash)")
    forge = str(data.get("forge", "generic"))
    stores = current_services().stores
    fields = {k: conv(data[k]) for k, conv in EDITABLE.items() if k in data and k != "clone_url"}
    if "trusted" in data:
        fields["trusted"] = flag(data["trusted"], "trusted")
    repo = repo_actions.create_repo(
        stores, admin, slug, forge=forge, clone_url=data.get("clone_url", ""), **fields
    )
    out = repo_json(repo, with_secret=True)
    out["webhook_url"] = webhook_url(slug)
    return jsonify(out), 201


@api_bp.get("/repos/<owner>/<name>")
def get_repo(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_READ)
    user = require_user()
    is_admin = role_of(user, repo) == ROLE_ADMIN
    out = repo_json(repo, with_secret=is_admin)
    out["role"] = role_of(user, repo)
    if is_admin:
        out["webhook_url"] = webhook_url(repo.slug)
    return jsonify(out)


@api_bp.patch("/repos/<owner>/<name>")
def update_repo(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    data = body()
    unknown = set(data) - set(EDITABLE) - {"trusted"}
    if unknown:
        raise BadRequest(
            f"cannot change {', '.join(sorted(unknown))}; editable: "
            f"{', '.join(sorted([*EDITABLE, 'trusted']))}"
        )
    fields = {k: EDITABLE.get(k, _trusted)(v) for k, v in data.items()}
    repo = repo_actions.update_repo(current_services().stores, require_user(), repo, fields)
    return jsonify(repo_json(repo, with_secret=True))


@api_bp.delete("/repos/<owner>/<name>")
def deactivate_repo(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    repo_actions.deactivate_repo(current_services().stores, require_user(), repo)
    return jsonify({"ok": True})


@api_bp.get("/repos/<owner>/<name>/perms")
def list_perms(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    members = current_services().stores.users.members(repo.id)
    return jsonify([{"login": user.login, "role": role} for user, role in members])


@api_bp.put("/repos/<owner>/<name>/perms/<login>")
def set_perm(owner: str, name: str, login: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    role = str(body().get("role", ""))
    repo_actions.set_role(current_services().stores, require_user(), repo, login, role)
    return jsonify({"login": login, "role": role})


@api_bp.delete("/repos/<owner>/<name>/perms/<login>")
def revoke_perm(owner: str, name: str, login: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    repo_actions.revoke_role(current_services().stores, require_user(), repo, login)
    return jsonify({"ok": True})
