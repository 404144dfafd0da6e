"""Rules for a repository's identity and settings, shared by the store, the API, the web UI and
the CLI: what a slug may look like, and who may point a repository at which clone URL.

Pure functions; each raises ``BadRequest`` or ``Forbidden`` with a message saying what to do.
"""

from __future__ import annotations

import re

from runner.errors import BadRequest, Forbidden
from runner.git_urls import is_local_url, redact_url

# One part of a slug, as forges allow it (GitHub: letters, digits, ``-``, ``_``, ``.``).
_SLUG_PART = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
SLUG_MAX = 255
# GitLab nests groups up to 20 deep: ``group/subgroup/name``.
SLUG_MAX_PARTS = 21
# A repository's own log retention: 0 follows the server's ``log_retention_days``.
MAX_LOG_RETENTION_DAYS = 36500


def check_slug(slug: str) -> str:
    """``slug`` (``owner/name``, or ``group/subgroup/name``) with surrounding slashes removed.

    Raises ``BadRequest`` for an empty part, ``.`` or ``..``, characters outside letters, digits,
    ``-``, ``_`` and ``.``, or more than 255 characters: a slug names webhook URLs, API paths and
    cache keys, so it must never climb out of them.
    """
    if not isinstance(slug, str):
        raise BadRequest("a repository slug is text of the form OWNER/NAME")
    cleaned = slug.strip().strip("/")
    parts = cleaned.split("/")
    problem = ""
    if len(parts) < 2:
        problem = "it needs an owner and a name"
    elif len(cleaned) > SLUG_MAX or len(parts) > SLUG_MAX_PARTS:
        problem = f"it is longer than {SLUG_MAX} characters or {SLUG_MAX_PARTS} parts"
    elif any(p in ("", ".", "..") for p in parts):
        problem = "a part is empty, '.' or '..'"
    elif not all(_SLUG_PART.match(p) for p in parts):
        problem = "use letters, digits, '-', '_' and '.' in each part"
    if problem:
        shown = cleaned if len(cleaned) <= 80 else cleaned[:80] + "…"
        raise BadRequest(f"repository {shown!r} is not a valid OWNER/NAME slug: {problem}")
    return cleaned


def check_clone_url(url: str) -> str:
    """``url`` stripped; ``BadRequest`` when it is empty or not one line of text."""
    if not isinstance(url, str) or not url.strip():
        raise BadRequest("a repository needs a clone_url the agents can fetch from")
    url = url.strip()
    if any(c in url for c in "\r\n\0") or len(url) > 2000:
        raise BadRequest("clone_url must be one line of at most 2000 characters")
    return url


def authorize_clone_url(url: str, *, server_admin: bool, changing: bool) -> None:
    """Refuse (403) a clone URL the caller may not set.

    Only a server admin may change a repository's clone URL (it decides what code the agents
    fetch, and under which repository's secrets it runs) and only a server admin may name a
    local one (``file://``, ``ext::``, a plain path), which reads the server's and agents'
    own disks, e.g. another private repository's mirror.
    """
    if server_admin:
        return
    if is_local_url(url):
        raise Forbidden(
            f"clone URL {redact_url(url)} is a local path or command transport: only a server "
            "admin may set one"
        )
    if changing:
        raise Forbidden(
            "only a server admin may change a repository's clone URL; ask one to run "
            "`runner repo update OWNER/NAME --clone-url URL`"
        )
