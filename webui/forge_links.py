"""What the pages show of a build's forge: pull request number and branches, links to the
commit and the pull request, the author's avatar, and the changed files, read from the build's
stored context (``runner.pipeline.spec.BuildContext.to_dict``).

The context comes from webhook bodies, which anyone who knows a repository's webhook secret
(or a generic webhook) writes: a URL is only ever used when it is ``http`` or ``https`` with a
host and no whitespace or control characters, so a ``javascript:`` or ``data:`` URL never
becomes an ``href`` or a ``src``. Text is escaped by Jinja like all text of the pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from runner.core import Build
from webui import webui_bp

# Longer URLs are not links: no forge makes them, and they would only bloat the pages.
MAX_URL = 2000
# The changed files listed on a build page; the rest are counted.
MAX_CHANGED_FILES = 300
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f\\]")


def http_url(value: Any) -> str:
    """``value`` when it is an absolute ``http``/``https`` URL with a host, else ""."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL or _UNSAFE.search(value):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return value


def _text(context: dict[str, Any], key: str) -> str:
    value = context.get(key)
    return value if isinstance(value, str) else ""


@dataclass
class ForgeDetails:
    """A build's forge details as the pages show them ("" or 0 where unknown)."""

    pull_request: int = 0
    source_branch: str = ""
    target_branch: str = ""
    pull_request_url: str = ""
    commit_url: str = ""
    avatar_url: str = ""
    # None: the webhook did not say (tags, pull requests, a cut commit list).
    changed_files: list[str] | None = None
    changed_total: int = 0


def forge_details(build: Build) -> ForgeDetails:
    """The forge details of ``build``'s stored context.

    The context's ``link`` is the forge's page of the event: for a pull request its page,
    for a push the commit or the compare view of the push, so it links the pull request
    number or the commit.
    """
    context = build.context if isinstance(build.context, dict) else {}
    link = http_url(context.get("link"))
    number = context.get("pull_request")
    is_pr = build.event == "pull_request" and isinstance(number, int) and number > 0
    files = context.get("changed_files")
    listed: list[str] | None = None
    if isinstance(files, list):
        listed = [f for f in files[:MAX_CHANGED_FILES] if isinstance(f, str)]
    return ForgeDetails(
        pull_request=number if is_pr and isinstance(number, int) else 0,
        source_branch=_text(context, "source_branch") if is_pr else "",
        target_branch=(_text(context, "target_branch") or build.branch) if is_pr else "",
        pull_request_url=link if is_pr else "",
        commit_url="" if is_pr else link,
        avatar_url=http_url(context.get("author_avatar")),
        changed_files=listed,
        changed_total=len(files) if isinstance(files, list) else 0,
    )


webui_bp.add_app_template_global(forge_details, "forge_details")
