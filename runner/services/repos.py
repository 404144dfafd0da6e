"""Actions on repositories: activate one, change its settings, deactivate it, members' roles.

The rules of ``runner.repo_rules`` (slug, clone URL) and the server-admin-only fields hold the
same way for the API, the pages and the CLI. ``actor`` is the user acting, or None for the
server's operator at its console, who holds every power.
"""

from __future__ import annotations

import secrets
from typing import Any

from runner.core import ROLES, Repo, User
from runner.errors import BadRequest, Forbidden, NotFound
from runner.git_urls import redact_url
from runner.repo_rules import (
    MAX_LOG_RETENTION_DAYS,
    authorize_clone_url,
    check_clone_url,
    check_slug,
)
from runner.store import Stores
from runner.store.repos import FORGES

__all__ = [
    "ADMIN_ONLY",
    "FORGES",
    "create_repo",
    "deactivate_repo",
    "purge_repo",
    "revoke_role",
    "set_role",
    "set_webhook_secret",
    "subject",
    "update_repo",
]
# Fields only a server admin may set: ``trusted`` opens the agent host to the pipeline.
ADMIN_ONLY = frozenset({"trusted"})
MAX_WEBHOOK_SECRET = 200


def _is_server_admin(actor: User | None) -> bool:
    return actor is None or actor.is_admin


def create_repo(
    stores: Stores, actor: User | None, slug: str, *, clone_url: str, **fields: Any
) -> Repo:
    """Activate ``slug``; ``BadRequest`` for a malformed slug, clone URL or unknown forge,
    ``Forbidden`` for a field the actor may not set, ``Conflict`` when the slug is active
    already."""
    slug = check_slug(slug)
    forge = fields.get("forge", "generic")
    if forge not in FORGES:
        raise BadRequest(f"unknown forge {forge!r}; use one of {', '.join(FORGES)}")
    clone_url = check_clone_url(clone_url)
    server_admin = _is_server_admin(actor)
    authorize_clone_url(clone_url, server_admin=server_admin, changing=True)
    _authorize_fields(fields, server_admin)
    repo: Repo = stores.repos.create(slug, clone_url=clone_url, **fields)
    _record(stores, repo, "repo.activated", f"repository {slug} activated", actor)
    return repo


def update_repo(stores: Stores, actor: User | None, repo: Repo, fields: dict[str, Any]) -> Repo:
    """Change ``fields`` of ``repo`` (the caller has checked the actor's admin role on it).

    A new clone URL, a local clone URL and the trusted flag need a server admin (``Forbidden``
    with the reason otherwise); a timeout must be positive, a log retention 0 to
    ``MAX_LOG_RETENTION_DAYS`` days.
    """
    server_admin = _is_server_admin(actor)
    if fields.get("clone_url") == redact_url(repo.clone_url):
        # The URL as the API shows it (credentials hidden), sent back unchanged.
        fields = {k: v for k, v in fields.items() if k != "clone_url"}
    if "clone_url" in fields:
        fields = {**fields, "clone_url": check_clone_url(fields["clone_url"])}
        authorize_clone_url(
            fields["clone_url"],
            server_admin=server_admin,
            changing=fields["clone_url"] != repo.clone_url,
        )
    if "timeout" in fields and fields["timeout"] <= 0:
        raise BadRequest("timeout must be a positive number of seconds")
    if not 0 <= fields.get("log_retention_days", 0) <= MAX_LOG_RETENTION_DAYS:
        raise BadRequest(f"log_retention_days is 0 (the server's) to {MAX_LOG_RETENTION_DAYS} days")
    _authorize_fields(fields, server_admin)
    updated: Repo = stores.repos.update(repo.id, **fields)
    changed = ", ".join(sorted(k for k in fields if k not in ("forge_token",))) or "nothing"
    if "forge_token" in fields:
        changed += " and the forge token"
    _record(stores, repo, "repo.changed", f"settings changed: {changed}", actor)
    return updated


def deactivate_repo(stores: Stores, actor: User | None, repo: Repo) -> None:
    """Stop building ``repo``: its webhooks are refused; builds and settings are kept."""
    stores.repos.update(repo.id, active=False)
    _record(stores, repo, "repo.deactivated", f"repository {repo.slug} deactivated", actor)


def set_webhook_secret(stores: Stores, actor: User | None, repo: Repo, secret: object) -> Repo:
    """Set the webhook secret of ``repo`` to ``secret``, or a new random one when it is empty;
    ``BadRequest`` for anything but text of at most ``MAX_WEBHOOK_SECRET`` characters."""
    given = secret or ""
    if not isinstance(given, str) or len(given) > MAX_WEBHOOK_SECRET:
        raise BadRequest(f"the webhook secret is text of at most {MAX_WEBHOOK_SECRET} characters")
    updated: Repo = stores.repos.update(repo.id, webhook_secret=given or secrets.token_hex(20))
    words = "webhook secret set" if given else "new webhook secret generated"
    _record(stores, repo, "repo.webhook_secret", words, actor)
    return updated


def purge_repo(stores: Stores, actor: User | None, repo: Repo) -> None:
    """Remove ``repo`` with its builds, logs, secrets and cron jobs (server admins only;
    deactivating keeps them)."""
    if not _is_server_admin(actor):
        raise Forbidden("only a server admin removes a repository with its history")
    stores.repos.delete(repo.id)
    # The server's log keeps it: the repository's own entries go with the repository's id.
    words = f"repository {repo.slug} removed with its builds and logs"
    stores.audit.record("repo.removed", subject(repo), words, _login(actor))


def set_role(stores: Stores, actor: User | None, repo: Repo, login: str, role: str) -> User:
    """Give user ``login`` the ``role`` on ``repo``; ``BadRequest`` for an unknown role,
    ``NotFound`` for an unknown user."""
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}")
    user = _user(stores, login)
    stores.users.grant(user.id, repo.id, role)
    _record(stores, repo, "repo.role", f"{login} is {role}", actor)
    return user


def revoke_role(stores: Stores, actor: User | None, repo: Repo, login: str) -> None:
    """Take ``login``'s role on ``repo`` away; ``NotFound`` for an unknown user."""
    user = _user(stores, login)
    stores.users.revoke_role(user.id, repo.id)
    _record(stores, repo, "repo.role", f"{login} has no role", actor)


def subject(repo: Repo) -> str:
    """The audit log subject of a repository."""
    return f"repo:{repo.slug}"


def _record(stores: Stores, repo: Repo, kind: str, words: str, actor: User | None) -> None:
    stores.audit.record(kind, subject(repo), words, _login(actor), repo_id=repo.id)


def _user(stores: Stores, login: str) -> User:
    user: User | None = stores.users.find(login)
    if user is None:
        raise NotFound(f"no user {login}")
    return user


def _login(actor: User | None) -> str:
    return actor.login if actor is not None else "server console"


def _authorize_fields(fields: dict[str, Any], server_admin: bool) -> None:
    denied = sorted(ADMIN_ONLY & set(fields))
    if denied and not server_admin:
        raise Forbidden(f"only a server admin may set {', '.join(denied)}")
