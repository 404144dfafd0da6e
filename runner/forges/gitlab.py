"""GitLab webhooks (``X-Gitlab-Token``, compared in constant time) and commit statuses.

Events built: ``Push Hook``, ``Tag Push Hook``, ``Merge Request Hook`` with action open, reopen,
or update carrying new commits (``oldrev``). Ignored: deleted branches and tags (``after`` all
zeros), other merge request actions (close, merge, approve, label changes), every other event.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from runner.errors import BadRequest, Unauthorized
from runner.forges.base import (
    EVENT_PULL_REQUEST,
    EVENT_PUSH,
    EVENT_TAG,
    ZERO_SHA,
    HookEvent,
    Ignored,
    StatusReport,
    changed_files,
    dig,
    first_line,
    header,
    load_json,
    require,
    split_ref,
)
from runner.forges.status_http import DEFAULT_TIMEOUT, post_json

NAME = "gitlab"
TOKEN_HEADER = "X-Gitlab-Token"
EVENT_HEADER = "X-Gitlab-Event"
DELIVERY_HEADER = "X-Gitlab-Event-UUID"

# GitLab merge request actions → the pull request actions of the rest of the project.
_MR_ACTIONS = {"open": "opened", "reopen": "reopened", "update": "synchronize"}

# Build statuses → GitLab commit status states.
STATES = {
    "pending": "pending",
    "blocked": "pending",
    "waiting": "pending",
    "running": "running",
    "success": "success",
    "skipped": "skipped",
    "failure": "failed",
    "error": "failed",
    "killed": "canceled",
    "declined": "canceled",
}


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Check ``X-Gitlab-Token`` equals the secret; raise ``Unauthorized`` when it does not."""
    token = header(headers, TOKEN_HEADER)
    if not secret:
        raise Unauthorized(
            "the repository has no webhook secret; set one and configure it in the forge"
        )
    if not token:
        raise Unauthorized(
            f"missing {TOKEN_HEADER} header: set the secret token in GitLab's webhook settings"
        )
    if not hmac.compare_digest(token.encode("utf-8"), secret.encode("utf-8")):
        raise Unauthorized(
            f"{TOKEN_HEADER} does not match the repository's webhook secret (see `runner repo ls`)"
        )


def parse(headers: Mapping[str, str], body: bytes) -> HookEvent | None:
    """The event to build, or None when this delivery asks for no build."""
    return parse_with_reason(headers, body)[0]


def parse_with_reason(headers: Mapping[str, str], body: bytes) -> tuple[HookEvent | None, str]:
    """``(event, "")`` for a build, ``(None, reason)`` for an ignored delivery."""
    kind = header(headers, EVENT_HEADER)
    if not kind:
        raise BadRequest(f"missing {EVENT_HEADER} header: this does not look like a GitLab webhook")
    data = load_json(body, NAME)
    try:
        if kind in ("Push Hook", "Tag Push Hook"):
            event = _push(data)
        elif kind == "Merge Request Hook":
            event = _merge_request(data)
        else:
            raise Ignored(f"GitLab event {kind!r} does not start builds")
    except Ignored as ignored:
        return None, ignored.reason
    event.delivery_id = header(headers, DELIVERY_HEADER)
    return event, ""


def _push(data: dict[str, Any]) -> HookEvent:
    ref = require(data, "ref")
    after = data.get("after") or ""
    commit = data.get("checkout_sha") or after
    if after == ZERO_SHA or not commit:
        raise Ignored(f"{ref} was deleted")
    branch, tag = split_ref(ref)
    commits = data.get("commits") or []
    head = next((c for c in commits if c.get("id") == commit), commits[-1] if commits else {})
    project = data.get("project") or {}
    message = head.get("message", "") or data.get("message") or ""
    return HookEvent(
        event=EVENT_TAG if tag else EVENT_PUSH,
        ref=ref,
        commit=commit,
        before="" if data.get("before") == ZERO_SHA else data.get("before", ""),
        branch=branch,
        tag=tag,
        message=message,
        title=head.get("title") or first_line(message),
        author=data.get("user_username") or dig(head, "author", "name"),
        author_email=dig(head, "author", "email") or data.get("user_email", ""),
        author_avatar=data.get("user_avatar", ""),
        sender=data.get("user_username", ""),
        link=head.get("url") or project.get("web_url", ""),
        repo=project.get("path_with_namespace", ""),
        clone_url=project.get("git_http_url", ""),
        changed_files=_changed_files(data, commits) if not tag else None,
    )


def _changed_files(data: dict[str, Any], commits: list) -> list[str] | None:
    """The paths the push changed; None when GitLab cut the commit list (over 20 commits)."""
    total = data.get("total_commits_count")
    if isinstance(total, int) and total > len(commits):
        return None
    return changed_files(commits)


def _merge_request(data: dict[str, Any]) -> HookEvent:
    attrs = require(data, "object_attributes")
    number = int(attrs.get("iid") or 0)
    action = attrs.get("action", "")
    if action == "update" and not attrs.get("oldrev"):
        raise Ignored(f"merge request !{number} updated without new commits")
    if action not in _MR_ACTIONS:
        raise Ignored(f"merge request !{number} {action}: only open, reopen and update build")
    last = attrs.get("last_commit") or {}
    title = attrs.get("title", "")
    source = dig(attrs, "source", "path_with_namespace") or dig(
        data, "source", "path_with_namespace"
    )
    target = dig(attrs, "target", "path_with_namespace") or dig(
        data, "target", "path_with_namespace"
    )
    project = data.get("project") or {}
    return HookEvent(
        event=EVENT_PULL_REQUEST,
        ref=f"refs/merge-requests/{number}/head",
        commit=last.get("id") or require(attrs, "last_commit", "id"),
        before=attrs.get("oldrev", ""),
        branch=attrs.get("target_branch", ""),
        message=title + ("\n\n" + attrs["description"] if attrs.get("description") else ""),
        title=title,
        author=dig(data, "user", "username"),
        author_email=dig(last, "author", "email"),
        author_avatar=dig(data, "user", "avatar_url"),
        sender=dig(data, "user", "username"),
        link=attrs.get("url", ""),
        action=_MR_ACTIONS[action],
        pull_request=number,
        source_branch=attrs.get("source_branch", ""),
        target_branch=attrs.get("target_branch", ""),
        fork=attrs.get("source_project_id") != attrs.get("target_project_id")
        or bool(source and target and source != target),
        repo=project.get("path_with_namespace", ""),
        clone_url=project.get("git_http_url", ""),
    )


def api_base_from_clone_url(clone_url: str) -> str:
    """``https://host/api/v4`` for a clone URL on ``host``; ``""`` when it has no host."""
    parts = urlsplit(clone_url)
    if parts.scheme in ("http", "https") and parts.hostname:
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return f"{parts.scheme}://{host}/api/v4"
    return ""


class StatusClient:
    """Creates commit statuses through ``POST /projects/{id}/statuses/{sha}`` (API v4).

    ``base_url`` is the API root, e.g. ``https://gitlab.example.com/api/v4``. ``send`` raises
    ``StatusError``; callers log it.
    """

    def __init__(self, base_url: str, token: str, *, session=None, timeout=DEFAULT_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session
        self.timeout = timeout

    def send(self, report: StatusReport) -> None:
        project = quote(report.repo, safe="")
        url = f"{self.base_url}/projects/{project}/statuses/{report.commit}"
        payload = {
            "state": STATES.get(report.status, "failed"),
            "target_url": report.target_url,
            "description": report.describe()[:255],
            "name": report.context,
        }
        if report.ref:
            payload["ref"] = report.ref
        headers = {"PRIVATE-TOKEN": self.token}
        post_json(url, payload, headers, session=self.session, timeout=self.timeout)
