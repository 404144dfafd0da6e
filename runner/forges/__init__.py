"""Forges: webhook verification and parsing, and commit status clients, one object per forge.

``FORGES`` maps a repository's ``forge`` (``github``, ``gitlab``, ``gitea``, ``gogs``,
``generic``) to its ``Forge`` (``runner.forges.base``); ``get_forge(name)`` looks one up and
``status_client(repo)`` builds the commit status client of a repository. A new forge is a
``Forge`` subclass in a module of its own, registered here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.errors import BadRequest
from runner.forges.base import Forge, StatusClient, StatusReport
from runner.forges.generic import GENERIC
from runner.forges.gitea import GITEA, GOGS
from runner.forges.github import GITHUB
from runner.forges.gitlab import GITLAB

if TYPE_CHECKING:
    import requests

    from runner.core import Repo

FORGES: dict[str, Forge] = {forge.name: forge for forge in (GITHUB, GITLAB, GITEA, GOGS, GENERIC)}

__all__ = [
    "FORGES",
    "GENERIC",
    "Forge",
    "StatusClient",
    "StatusReport",
    "get_forge",
    "status_client",
]


def get_forge(name: str) -> Forge:
    """The forge called ``name``; ``BadRequest`` listing the known ones otherwise."""
    try:
        return FORGES[name]
    except KeyError:
        raise BadRequest(
            f"unknown forge {name!r}; use one of {', '.join(sorted(FORGES))}"
        ) from None


def status_client(repo: Repo, *, session: requests.Session | None = None) -> StatusClient | None:
    """The commit status client of ``repo``, or None when it has none.

    The API root is ``repo.forge_url``; when empty it is the forge's default for the clone URL
    (``Forge.api_base``). A repository without a forge token gets none, unless its forge
    sends statuses without one (the generic forge may post to an open receiver).
    """
    forge = get_forge(repo.forge)
    base = repo.forge_url or forge.api_base(repo.clone_url)
    if not base or (not repo.forge_token and forge.status_needs_token):
        return None
    return forge.status_client(base, repo.forge_token, session=session)
