"""Actions on repositories: activate one, change its settings.

The REST API, the web UI and ``runner repo`` call these, so the rules of ``runner.repo_rules``
(slug, clone URL) and the server-admin-only fields are enforced the same way everywhere.
``actor`` is the user acting, or None for the server's operator at its console (``runner repo``
runs on the server's machine with the data directory, so it holds every power).
"""

from __future__ import annotations

from runner.core import Repo, User
from runner.errors import Forbidden
from runner.git_urls import redact_url
from runner.repo_rules import authorize_clone_url, check_clone_url, check_slug

# Fields only a server admin may set: ``trusted`` opens the agent host to the pipeline.
ADMIN_ONLY = frozenset({"trusted"})


def _is_server_admin(actor: User | None) -> bool:
    return actor is None or actor.is_admin


def create_repo(stores, actor: User | None, slug: str, *, clone_url: str, **fields) -> Repo:
    """Activate ``slug``; ``BadRequest`` for a malformed slug or clone URL, ``Forbidden`` for
    a field the actor may not set, ``Conflict`` when the slug is active already."""
    slug = check_slug(slug)
    clone_url = check_clone_url(clone_url)
    server_admin = _is_server_admin(actor)
    authorize_clone_url(clone_url, server_admin=server_admin, changing=True)
    _authorize_fields(fields, server_admin)
    return stores.repos.create(slug, clone_url=clone_url, **fields)


def update_repo(stores, actor: User | None, repo: Repo, fields: dict) -> Repo:
    """Change ``fields`` of ``repo`` (the caller has checked the actor's admin role on it).

    A new clone URL, a local clone URL and the trusted flag need a server admin (403 with the
    reason otherwise).
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
    _authorize_fields(fields, server_admin)
    return stores.repos.update(repo.id, **fields)


def _authorize_fields(fields: dict, server_admin: bool) -> None:
    denied = sorted(ADMIN_ONLY & set(fields))
    if denied and not server_admin:
        raise Forbidden(f"only a server admin may set {', '.join(denied)}")
