"""The webhook format Gitea and Gogs share (a GitHub-like JSON body signed with a plain hex
HMAC-SHA256), parameterised by each forge's header names; and their commit status client.

Events built: ``push`` to a branch or a tag, ``pull_request`` opened/synchronized/reopened.
Ignored: deleted refs, ``create``/``delete`` events (a tag builds from its ``push``), other pull
request actions, every other event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from runner.errors import BadRequest
from runner.forges.base import (
    EVENT_PULL_REQUEST,
    EVENT_PUSH,
    EVENT_TAG,
    GITHUB_STATES,
    ZERO_SHA,
    HookEvent,
    Ignored,
    StatusReport,
    changed_files,
    check_hmac,
    dig,
    first_line,
    header,
    load_json,
    require,
    split_ref,
)
from runner.forges.status_http import DEFAULT_TIMEOUT, post_json

_PR_ACTIONS = {"opened": "opened", "reopened": "reopened", "synchronized": "synchronize"}


@dataclass(frozen=True)
class Dialect:
    """The header names of one forge speaking this format."""

    name: str  # forge name in messages
    signature_header: str
    event_header: str
    delivery_header: str


def verify(dialect: Dialect, headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Check the hex HMAC-SHA256 signature header; raise ``Unauthorized`` when it is wrong."""
    check_hmac(
        header(headers, dialect.signature_header),
        secret,
        body,
        header_name=dialect.signature_header,
    )


def parse_with_reason(
    dialect: Dialect, headers: Mapping[str, str], body: bytes
) -> tuple[HookEvent | None, str]:
    """``(event, "")`` for a build, ``(None, reason)`` for an ignored delivery."""
    kind = header(headers, dialect.event_header)
    if not kind:
        raise BadRequest(
            f"missing {dialect.event_header} header: this does not look like a "
            f"{dialect.name} webhook"
        )
    data = load_json(body, dialect.name)
    try:
        if kind == "push":
            event = _push(data)
        elif kind == "pull_request":
            event = _pull_request(data)
        elif kind in ("create", "delete"):
            raise Ignored(f"{dialect.name} {kind} events do not build; pushes of tags do")
        else:
            raise Ignored(f"{dialect.name} event {kind!r} does not start builds")
    except Ignored as ignored:
        return None, ignored.reason
    event.delivery_id = header(headers, dialect.delivery_header)
    return event, ""


def _push(data: dict[str, Any]) -> HookEvent:
    ref = require(data, "ref")
    after = data.get("after") or ""
    if not after or after == ZERO_SHA:
        raise Ignored(f"{ref} was deleted")
    commits = [c for c in data.get("commits") or [] if isinstance(c, dict)]
    head = data.get("head_commit") or next(
        (c for c in commits if c.get("id") == after), commits[0] if commits else {}
    )
    branch, tag = split_ref(ref)
    repo = data.get("repository") or {}
    message = head.get("message", "")
    return HookEvent(
        event=EVENT_TAG if tag else EVENT_PUSH,
        ref=ref,
        commit=after,
        before="" if data.get("before") == ZERO_SHA else data.get("before", ""),
        branch=branch,
        tag=tag,
        message=message,
        title=first_line(message),
        author=dig(head, "author", "username")
        or dig(head, "author", "name")
        or dig(data, "pusher", "login"),
        author_email=dig(head, "author", "email") or dig(data, "pusher", "email"),
        author_avatar=dig(data, "sender", "avatar_url") or dig(data, "pusher", "avatar_url"),
        sender=dig(data, "sender", "login") or dig(data, "pusher", "login"),
        link=data.get("compare_url") or head.get("url", ""),
        repo=repo.get("full_name", ""),
        clone_url=repo.get("clone_url", ""),
        changed_files=changed_files(commits) if not tag else None,
    )


def _pull_request(data: dict[str, Any]) -> HookEvent:
    pr = require(data, "pull_request")
    number = int(data.get("number") or pr.get("number") or 0)
    action = data.get("action", "")
    if action not in _PR_ACTIONS:
        raise Ignored(
            f"pull request #{number} {action}: only opened, synchronized and reopened build"
        )
    # Gitea sends head/base objects; Gogs sends head_branch/head_repo/base_branch/base_repo and
    # no head sha, which the triggerer then resolves from the pull request's ref.
    head_repo = dig(pr, "head", "repo", "full_name") or dig(pr, "head_repo", "full_name")
    base_repo = dig(pr, "base", "repo", "full_name") or dig(pr, "base_repo", "full_name")
    base_ref = dig(pr, "base", "ref") or pr.get("base_branch") or ""
    title = pr.get("title", "")
    return HookEvent(
        event=EVENT_PULL_REQUEST,
        ref=f"refs/pull/{number}/head",
        commit=dig(pr, "head", "sha"),
        before=dig(pr, "base", "sha"),
        branch=base_ref,
        message=title + ("\n\n" + pr["body"] if pr.get("body") else ""),
        title=title,
        author=dig(pr, "user", "login") or dig(pr, "user", "username"),
        author_email=dig(pr, "user", "email"),
        author_avatar=dig(pr, "user", "avatar_url"),
        sender=dig(data, "sender", "login") or dig(data, "sender", "username"),
        link=pr.get("html_url", ""),
        action=_PR_ACTIONS[action],
        pull_request=number,
        source_branch=dig(pr, "head", "ref") or pr.get("head_branch") or "",
        target_branch=base_ref,
        fork=bool(head_repo and base_repo and head_repo != base_repo),
        repo=dig(data, "repository", "full_name"),
        clone_url=dig(data, "repository", "clone_url"),
    )


def api_base_from_clone_url(clone_url: str) -> str:
    """``https://host/api/v1`` for a clone URL on ``host``; ``""`` when it has no host."""
    parts = urlsplit(clone_url)
    if parts.scheme in ("http", "https") and parts.hostname:
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return f"{parts.scheme}://{host}/api/v1"
    return ""


class StatusClient:
    """Creates commit statuses through ``POST /repos/{owner}/{repo}/statuses/{sha}``.

    ``base_url`` is the API root (``https://gitea.example.com/api/v1``). Gitea implements this
    endpoint; stock Gogs does not, so reports to Gogs fail (and are logged) unless the Gogs
    server has it. ``send`` raises ``StatusError``.
    """

    def __init__(self, base_url: str, token: str, *, session=None, timeout=DEFAULT_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session
        self.timeout = timeout

    def send(self, report: StatusReport) -> None:
        url = f"{self.base_url}/repos/{quote(report.repo)}/statuses/{report.commit}"
        payload = {
            "state": GITHUB_STATES.get(report.status, "error"),
            "target_url": report.target_url,
            "description": report.describe()[:255],
            "context": report.context,
        }
        headers = {"Authorization": f"token {self.token}"}
        post_json(url, payload, headers, session=self.session, timeout=self.timeout)
