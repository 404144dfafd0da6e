"""Actions on a repository's registries: the credentials its step images are pulled with.

As ``woodpecker-cli repo registry add|ls|rm``: one entry per registry host, with a user name
and a password that goes in and never comes out (encrypted at rest like a secret). One rule
for hosts and values, used by the API, the pages and the CLI; every change is recorded in the
audit log with who made it (never the password).
"""

from __future__ import annotations

import re

from runner.core import Registry, Repo, User
from runner.errors import BadRequest, NotFound
from runner.pipeline.registry_auth import registry_host
from runner.services.secrets import subject
from runner.store import Stores

# A host with an optional port, as Docker spells registry hosts: ``ghcr.io``,
# ``127.0.0.1:5000``, ``docker.io``.
HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$")


def check_hostname(hostname: object) -> str:
    """The registry host of ``hostname`` (a host, ``host:port`` or a URL such as
    ``https://index.docker.io/v1/``); ``BadRequest`` otherwise."""
    host = registry_host(hostname) if isinstance(hostname, str) else ""
    if not HOST.match(host):
        raise BadRequest(
            "a registry needs a hostname, with a port if not the default, "
            "e.g. ghcr.io or registry.example.com:5000"
        )
    return host


def set_registry(
    stores: Stores,
    repo: Repo,
    actor: User,
    hostname: object,
    username: object,
    password: object,
) -> Registry:
    """Add the registry ``hostname`` of ``repo``, or replace its credentials."""
    host = check_hostname(hostname)
    if not isinstance(username, str) or not username.strip():
        raise BadRequest("a registry needs a username")
    if len(username.strip()) > 300:  # the column's size, which PostgreSQL enforces
        raise BadRequest("a registry's username has at most 300 characters")
    if not isinstance(password, str) or password == "":
        raise BadRequest("a registry needs a non-empty password (or token)")
    exists = stores.registries.find(repo.id, host) is not None
    registry = stores.registries.set(repo.id, host, username.strip(), password)
    words = f"registry {host} {'replaced' if exists else 'added'} (user {username.strip()})"
    stores.audit.record("registry.set", subject(repo), words, actor.login, repo_id=repo.id)
    return registry


def delete_registry(stores: Stores, repo: Repo, actor: User, hostname: object) -> None:
    """Remove the registry ``hostname`` of ``repo``; ``NotFound`` when there is none."""
    host = check_hostname(hostname)
    if stores.registries.find(repo.id, host) is None:
        raise NotFound(f"no registry {host} in {repo.slug}")
    stores.registries.delete(repo.id, host)
    words = f"registry {host} deleted"
    stores.audit.record("registry.deleted", subject(repo), words, actor.login, repo_id=repo.id)
