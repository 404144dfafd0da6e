"""Forges: webhook verification and parsing, and commit status clients, one module per forge.

``get_forge(name)`` returns the module of ``github``, ``gitlab``, ``gitea``, ``gogs`` or
``generic``; each has ``verify``, ``parse``, ``parse_with_reason`` and ``StatusClient`` (see
``runner.forges.base``). ``status_client(repo)`` builds the client for a repository.
"""

from __future__ import annotations

from types import ModuleType

from runner.errors import BadRequest
from runner.forges import generic, gitea, github, gitlab, gogs
from runner.forges.base import HookEvent, StatusReport

FORGES: dict[str, ModuleType] = {
    "github": github,
    "gitlab": gitlab,
    "gitea": gitea,
    "gogs": gogs,
    "generic": generic,
}

__all__ = ["FORGES", "HookEvent", "StatusReport", "get_forge", "status_client"]


def get_forge(name: str) -> ModuleType:
    """The forge module called ``name``; ``BadRequest`` listing the known ones otherwise."""
    try:
        return FORGES[name]
    except KeyError:
        raise BadRequest(
            f"unknown forge {name!r}; use one of {', '.join(sorted(FORGES))}"
        ) from None


def status_client(repo, *, session=None):
    """The commit status client of ``repo`` (a ``runner.core.Repo``), or None when it has none.

    The API root is ``repo.forge_url``; when empty it is derived from the clone URL (GitLab,
    Gitea, Gogs) or is GitHub's public API. A repository without a forge token gets none,
    except the generic forge, which may post to an open receiver.
    """
    module = get_forge(repo.forge)
    base = repo.forge_url
    if not base:
        if module is github:
            base = github.DEFAULT_API
        elif module in (gitlab, gitea, gogs):
            base = module.api_base_from_clone_url(repo.clone_url)
    if not base or (not repo.forge_token and module is not generic):
        return None
    return module.StatusClient(base, repo.forge_token, session=session)
