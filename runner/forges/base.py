"""What every forge module shares: the parsed ``HookEvent``, signature checks, status states.

A forge module (``github``, ``gitlab``, ``gitea``, ``gogs``, ``generic``) exposes three names:

- ``verify(headers, body, secret)``: raises ``runner.errors.Unauthorized`` with the reason when
  the request was not signed with the repository's webhook secret; returns None otherwise.
- ``parse(headers, body) -> HookEvent | None``: the event to build, or None when the request is
  valid but nothing should be built (a deleted branch, a closed pull request, a ping). Raises
  ``runner.errors.BadRequest`` for a body that is not the JSON the forge documents: each
  module reads the body through its schema (pydantic models on ``runner.forges.payload``),
  which names every field it uses.
  ``parse_with_reason`` returns ``(event, reason)`` so the hook endpoint can say why it ignored one.
- ``StatusClient``: reports a build's state as a commit status through the forge's API.

Everything here is pure (no I/O) except the status clients, which speak HTTP to ``forge_url``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.errors import Unauthorized
from runner.pipeline.spec import BuildContext

EVENT_PUSH = "push"
EVENT_TAG = "tag"
EVENT_PULL_REQUEST = "pull_request"
EVENT_CUSTOM = "custom"

# A pull request action that changes the code to build; the others (closed, labeled...) are ignored.
PULL_REQUEST_ACTIONS = frozenset({"opened", "synchronize", "reopened"})

ZERO_SHA = "0" * 40

SKIP_MARKERS = re.compile(r"\[(skip ci|ci skip)\]", re.IGNORECASE)
SKIPPABLE_EVENTS = (EVENT_PUSH, EVENT_PULL_REQUEST)


@dataclass
class HookEvent:
    """One buildable event received from a forge, independent of the forge's payload format.

    ``commit`` may be empty (the generic webhook with only a ref, Gogs pull requests); the
    triggerer then resolves ``ref`` through the repository mirror. ``changed_files`` is None
    when the forge did not say (``paths`` conditions then match, as documented in DESIGN.md).
    """

    event: str  # push, tag, pull_request, custom
    ref: str = ""
    commit: str = ""
    before: str = ""
    branch: str = ""
    tag: str = ""
    message: str = ""
    title: str = ""
    author: str = ""
    author_email: str = ""
    author_avatar: str = ""
    sender: str = ""
    link: str = ""
    action: str = ""
    pull_request: int = 0
    source_branch: str = ""
    target_branch: str = ""
    fork: bool = False
    repo: str = ""  # owner/name as the forge spells it
    clone_url: str = ""
    delivery_id: str = ""
    target: str = ""  # deploy environment asked for (generic webhook, promote, rollback)
    cron: str = ""  # the cron job's name, for event=cron
    parent: int = 0  # the build number restarted, promoted or rolled back
    changed_files: list[str] | None = None
    params: dict[str, str] = field(default_factory=dict)  # extra variables (generic webhook)

    def to_context(self, **extra: Any) -> BuildContext:
        """The ``BuildContext`` of this event; ``extra`` sets or overrides fields."""
        values = {
            "event": self.event,
            "ref": self.ref,
            "commit": self.commit,
            "before": self.before,
            "branch": self.branch,
            "tag": self.tag,
            "message": self.message,
            "author": self.author,
            "author_email": self.author_email,
            "author_avatar": self.author_avatar,
            "link": self.link,
            "action": self.action,
            "pull_request": self.pull_request,
            "source_branch": self.source_branch,
            "target_branch": self.target_branch,
            "target": self.target,
            "cron": self.cron,
            "parent": self.parent,
            "fork": self.fork,
            "changed_files": self.changed_files,
        }
        values.update(extra)
        return BuildContext(**values)


def skip_reason(event: HookEvent) -> str:
    """Why ``event`` should not build, or ``""``: ``[skip ci]``/``[ci skip]`` (any case) in the
    message or title of a push or pull request; tags, crons and manual builds always build."""
    if event.event not in SKIPPABLE_EVENTS:
        return ""
    for text in (event.message, event.title):
        match = SKIP_MARKERS.search(text or "")
        if match:
            return f"{match.group(0)} in the commit message"
    return ""


def event_from_build(build, *, sender: str = "") -> HookEvent:
    """The event that made ``build`` (a ``runner.core.Build``), to build it again (restart,
    promote); ``parent`` is the build's number."""
    ctx = BuildContext.from_dict(build.context or {})
    return HookEvent(
        event=build.event,
        ref=build.ref,
        commit=build.commit,
        before=ctx.before,
        branch=build.branch,
        tag=build.tag,
        message=build.message,
        title=(build.message or "").strip().split("\n", 1)[0],
        author=build.author,
        author_email=ctx.author_email,
        author_avatar=ctx.author_avatar,
        sender=sender or build.sender,
        link=ctx.link,
        action=ctx.action,
        pull_request=ctx.pull_request,
        source_branch=ctx.source_branch,
        target_branch=ctx.target_branch,
        fork=ctx.fork,
        target=build.target,
        cron=ctx.cron,
        parent=build.number,
        changed_files=ctx.changed_files,
    )


class Ignored(Exception):
    """Raised inside a parser when a valid request asks for no build; carries the reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def header(headers: Mapping[str, str], name: str) -> str:
    """The value of header ``name`` (case-insensitive), or ``""``."""
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                return str(candidate)
        return ""
    return str(value)


def hmac_hex(secret: str, body: bytes, algorithm=hashlib.sha256) -> str:
    """The hex HMAC of ``body`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), body, algorithm).hexdigest()


def compare_secret(given: str, expected: str) -> bool:
    """Whether ``given`` (a header, any characters) equals ``expected``, in constant time.

    Compared as UTF-8 bytes: ``hmac.compare_digest`` refuses non-ASCII ``str`` with a
    ``TypeError``, and a header is whatever bytes the sender chose.
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def check_hmac(
    signature: str, secret: str, body: bytes, *, header_name: str, prefix: str = ""
) -> None:
    """Compare ``signature`` (``prefix`` + hex HMAC-SHA256 of ``body``) in constant time.

    Raises ``Unauthorized`` naming ``header_name`` when it is missing or wrong.
    """
    if not secret:
        raise Unauthorized(
            "the repository has no webhook secret; set one and configure it in the forge"
        )
    if not signature:
        raise Unauthorized(
            f"missing {header_name} header: set the webhook secret in the forge's webhook settings"
        )
    if prefix:
        if not signature.startswith(prefix):
            raise Unauthorized(f"{header_name} must start with {prefix!r}")
        signature = signature[len(prefix) :]
    expected = hmac_hex(secret, body)
    if not compare_secret(signature.strip().lower(), expected):
        raise Unauthorized(
            f"{header_name} does not match the body: the webhook secret in the forge differs "
            "from the repository's (see `runner repo ls`)"
        )


def split_ref(ref: str) -> tuple[str, str]:
    """``(branch, tag)`` of a git ref: ``refs/heads/x`` → ``("x", "")``, tags likewise."""
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :], ""
    if ref.startswith("refs/tags/"):
        return "", ref[len("refs/tags/") :]
    return ref, ""


def first_line(message: str) -> str:
    return (message or "").strip().splitlines()[0] if (message or "").strip() else ""


# Build statuses → what the status clients send; shared by the forges that use GitHub's words.
GITHUB_STATES = {
    "pending": "pending",
    "running": "pending",
    "blocked": "pending",
    "waiting": "pending",
    "success": "success",
    "skipped": "success",
    "failure": "failure",
    "killed": "error",
    "error": "error",
    "declined": "error",
}

DESCRIPTIONS = {
    "pending": "Build is pending",
    "running": "Build is running",
    "blocked": "Build is waiting for approval",
    "waiting": "Build is waiting",
    "success": "Build succeeded",
    "skipped": "Build was skipped",
    "failure": "Build failed",
    "killed": "Build was cancelled",
    "error": "Build errored",
    "declined": "Build was declined",
}


@dataclass
class StatusReport:
    """One commit status to send: what ``StatusClient.send`` needs, forge-neutral."""

    repo: str  # owner/name
    commit: str
    status: str  # a build status of runner.core
    target_url: str
    context: str = "continuous-integration/pipeline-runner"
    ref: str = ""
    description: str = ""

    def describe(self) -> str:
        return self.description or DESCRIPTIONS.get(self.status, self.status)
