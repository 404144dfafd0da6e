"""GitHub webhooks (``X-Hub-Signature-256`` HMAC) and commit statuses.

Events built: ``push`` to a branch or a tag, ``pull_request`` opened/synchronize/reopened.
Ignored: ``ping``, deleted refs, other pull request actions, every other event (``create`` too:
a tag builds from its ``push``). The body may be JSON or the ``payload=`` form encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote

from runner.errors import BadRequest
from runner.forges.base import (
    EVENT_PULL_REQUEST,
    EVENT_PUSH,
    EVENT_TAG,
    GITHUB_STATES,
    PULL_REQUEST_ACTIONS,
    ZERO_SHA,
    HookEvent,
    Ignored,
    StatusReport,
    changed_files,
    check_hmac,
    dig,
    first_line,
    header,
    hmac_hex,
    load_json,
    require,
    split_ref,
)
from runner.forges.status_http import DEFAULT_TIMEOUT, post_json

NAME = "github"
SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
DEFAULT_API = "https://api.github.com"


def signature(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` (for tests and tools)."""
    return "sha256=" + hmac_hex(secret, body)


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Check ``X-Hub-Signature-256: sha256=<hmac>``; raise ``Unauthorized`` when it is wrong."""
    check_hmac(
        header(headers, SIGNATURE_HEADER),
        secret,
        body,
        header_name=SIGNATURE_HEADER,
        prefix="sha256=",
    )


def parse(headers: Mapping[str, str], body: bytes) -> HookEvent | None:
    """The event to build, or None when this delivery asks for no build."""
    return parse_with_reason(headers, body)[0]


def parse_with_reason(headers: Mapping[str, str], body: bytes) -> tuple[HookEvent | None, str]:
    """``(event, "")`` for a build, ``(None, reason)`` for an ignored delivery."""
    kind = header(headers, EVENT_HEADER)
    if not kind:
        raise BadRequest(f"missing {EVENT_HEADER} header: this does not look like a GitHub webhook")
    data = _load(headers, body)
    try:
        if kind == "push":
            event = _push(data)
        elif kind == "pull_request":
            event = _pull_request(data)
        elif kind == "ping":
            raise Ignored("ping received; the webhook works")
        else:
            raise Ignored(f"GitHub event {kind!r} does not start builds")
    except Ignored as ignored:
        return None, ignored.reason
    event.delivery_id = header(headers, DELIVERY_HEADER)
    return event, ""


def _load(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    if header(headers, "Content-Type").startswith("application/x-www-form-urlencoded"):
        payload = parse_qs(body.decode("utf-8", "replace")).get("payload")
        if not payload:
            raise BadRequest("form-encoded GitHub webhook without a payload field")
        body = payload[0].encode("utf-8")
    return load_json(body, NAME)


def _push(data: dict[str, Any]) -> HookEvent:
    ref = require(data, "ref")
    after = data.get("after") or ""
    if data.get("deleted") or after == ZERO_SHA:
        raise Ignored(f"{ref} was deleted")
    head = data.get("head_commit") or {}
    commit = head.get("id") or after
    if not commit:
        raise BadRequest("GitHub push without 'after' or 'head_commit.id'")
    branch, tag = split_ref(ref)
    repo = data.get("repository") or {}
    return HookEvent(
        event=EVENT_TAG if tag else EVENT_PUSH,
        ref=ref,
        commit=commit,
        before="" if data.get("before") == ZERO_SHA else data.get("before", ""),
        branch=branch or (data.get("base_ref") or "").removeprefix("refs/heads/"),
        tag=tag,
        message=head.get("message", ""),
        title=first_line(head.get("message", "")),
        author=dig(head, "author", "username") or dig(head, "author", "name"),
        author_email=dig(head, "author", "email"),
        author_avatar=dig(data, "sender", "avatar_url"),
        sender=dig(data, "sender", "login"),
        link=data.get("compare") or head.get("url", ""),
        repo=repo.get("full_name", ""),
        clone_url=repo.get("clone_url", ""),
        changed_files=changed_files(data.get("commits")) if not tag else None,
    )


def _pull_request(data: dict[str, Any]) -> HookEvent:
    action = data.get("action", "")
    pr = require(data, "pull_request")
    number = int(data.get("number") or pr.get("number") or 0)
    if action not in PULL_REQUEST_ACTIONS:
        raise Ignored(
            f"pull request #{number} {action}: only opened, synchronize and reopened build"
        )
    head_repo = dig(pr, "head", "repo", "full_name")
    base_repo = dig(pr, "base", "repo", "full_name")
    title = pr.get("title", "")
    return HookEvent(
        event=EVENT_PULL_REQUEST,
        ref=f"refs/pull/{number}/head",
        commit=require(pr, "head", "sha"),
        before=dig(pr, "base", "sha"),
        branch=dig(pr, "base", "ref"),
        message=title + ("\n\n" + pr["body"] if pr.get("body") else ""),
        title=title,
        author=dig(pr, "user", "login"),
        author_avatar=dig(pr, "user", "avatar_url"),
        sender=dig(data, "sender", "login"),
        link=pr.get("html_url", ""),
        action=action,
        pull_request=number,
        source_branch=dig(pr, "head", "ref"),
        target_branch=dig(pr, "base", "ref"),
        fork=bool(head_repo and base_repo and head_repo != base_repo),
        repo=dig(data, "repository", "full_name"),
        clone_url=dig(data, "repository", "clone_url"),
    )


class StatusClient:
    """Creates commit statuses through ``POST /repos/{owner}/{repo}/statuses/{sha}``.

    ``base_url`` is the API root (``https://api.github.com``, or ``https://host/api/v3`` for
    GitHub Enterprise). ``send`` raises ``StatusError``; callers log it.
    """

    def __init__(self, base_url: str, token: str, *, session=None, timeout=DEFAULT_TIMEOUT):
        self.base_url = (base_url or DEFAULT_API).rstrip("/")
        self.token = token
        self.session = session
        self.timeout = timeout

    def send(self, report: StatusReport) -> None:
        url = f"{self.base_url}/repos/{quote(report.repo)}/statuses/{report.commit}"
        payload = {
            "state": GITHUB_STATES.get(report.status, "error"),
            "target_url": report.target_url,
            "description": report.describe()[:140],
            "context": report.context,
        }
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
        }
        post_json(url, payload, headers, session=self.session, timeout=self.timeout)
