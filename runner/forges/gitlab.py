"""GitLab webhooks (``X-Gitlab-Token``, compared in constant time) and commit statuses.

Events built: ``Push Hook``, ``Tag Push Hook``, ``Merge Request Hook`` with action open, reopen,
or update carrying new commits (``oldrev``). Ignored: deleted branches and tags (``after`` all
zeros), other merge request actions (close, merge, approve, label changes), every other event.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    compare_secret,
    first_line,
    header,
    split_ref,
)
from runner.forges.payload import (
    Commit,
    Id,
    Number,
    Payload,
    Ref,
    Sha,
    Text,
    changed_files,
    load_json,
    validate,
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


# The fields read from GitLab's payloads (docs.gitlab.com, "Webhook events").


class Project(Payload):
    path_with_namespace: Text = ""
    git_http_url: Text = ""
    web_url: Text = ""


class PushPayload(Payload):
    """``Push Hook`` and ``Tag Push Hook``; ``commits`` holds at most 20 of them."""

    ref: Ref
    before: Sha = ""
    after: Sha = ""
    checkout_sha: Sha = ""
    message: Text = ""  # an annotated tag's message
    user_username: Text = ""
    user_email: Text = ""
    user_avatar: Text = ""
    total_commits_count: Number = 0
    commits: list[Commit] | None = None
    project: Project | None = None


class User(Payload):
    username: Text = ""
    avatar_url: Text = ""


class MergeRequest(Payload):
    iid: Number = 0
    action: Text = ""
    oldrev: Sha = ""
    title: Text = ""
    description: Text = ""
    url: Text = ""
    source_branch: Text = ""
    target_branch: Text = ""
    source_project_id: Id = 0
    target_project_id: Id = 0
    source: Project | None = None
    target: Project | None = None
    last_commit: Commit | None = None


class MergeRequestPayload(Payload):
    """``Merge Request Hook``."""

    object_attributes: MergeRequest
    user: User | None = None
    project: Project | None = None
    source: Project | None = None
    target: Project | None = None


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
    if not compare_secret(token, secret):
        raise Unauthorized(
            f"{TOKEN_HEADER} does not match the repository's webhook secret (see `runner repo ls`)"
        )


def parse(headers: Mapping[str, str], body: bytes) -> HookEvent | None:
    """The event to build, or None when this delivery asks for no build."""
    return parse_with_reason(headers, body)[0]


def parse_with_reason(headers: Mapping[str, str], body: bytes) -> tuple[HookEvent | None, str]:
    """``(event, "")`` for a build, ``(None, reason)`` for an ignored delivery.

    Raises ``BadRequest`` naming the field that is missing or of the wrong type.
    """
    kind = header(headers, EVENT_HEADER)
    if not kind:
        raise BadRequest(f"missing {EVENT_HEADER} header: this does not look like a GitLab webhook")
    data = load_json(body, NAME)
    try:
        if kind in ("Push Hook", "Tag Push Hook"):
            event = _push(validate(PushPayload, data, f"GitLab {kind}"))
        elif kind == "Merge Request Hook":
            event = _merge_request(validate(MergeRequestPayload, data, "GitLab Merge Request Hook"))
        else:
            raise Ignored(f"GitLab event {kind[:40]!r} does not start builds")
    except Ignored as ignored:
        return None, ignored.reason
    event.delivery_id = header(headers, DELIVERY_HEADER)
    return event, ""


def _push(data: PushPayload) -> HookEvent:
    commit = data.checkout_sha or data.after
    if data.after == ZERO_SHA or not commit:
        raise Ignored(f"{data.ref} was deleted")
    branch, tag = split_ref(data.ref)
    commits = data.commits or []
    head = next((c for c in commits if c.id == commit), commits[-1] if commits else Commit())
    project = data.project or Project()
    message = head.message or data.message
    author = head.author
    return HookEvent(
        event=EVENT_TAG if tag else EVENT_PUSH,
        ref=data.ref,
        commit=commit,
        before="" if data.before == ZERO_SHA else data.before,
        branch=branch,
        tag=tag,
        message=message,
        title=head.title or first_line(message),
        author=data.user_username or (author.name if author else ""),
        author_email=(author.email if author else "") or data.user_email,
        author_avatar=data.user_avatar,
        sender=data.user_username,
        link=head.url or project.web_url,
        repo=project.path_with_namespace,
        clone_url=project.git_http_url,
        changed_files=_changed_files(data, commits) if not tag else None,
    )


def _changed_files(data: PushPayload, commits: list[Commit]) -> list[str] | None:
    """The paths the push changed; None when GitLab cut the commit list (over 20 commits)."""
    if data.total_commits_count > len(commits):
        return None
    return changed_files(commits)


def _merge_request(data: MergeRequestPayload) -> HookEvent:
    attrs = data.object_attributes
    number = attrs.iid
    if attrs.action == "update" and not attrs.oldrev:
        raise Ignored(f"merge request !{number} updated without new commits")
    if attrs.action not in _MR_ACTIONS:
        raise Ignored(
            f"merge request !{number} {attrs.action[:40]}: only open, reopen and update build"
        )
    last = attrs.last_commit or Commit()
    if not last.id:
        raise BadRequest("GitLab Merge Request Hook webhook: no 'object_attributes.last_commit.id'")
    if not number:
        raise BadRequest("GitLab Merge Request Hook webhook: no 'object_attributes.iid'")
    source = (attrs.source or data.source or Project()).path_with_namespace
    target = (attrs.target or data.target or Project()).path_with_namespace
    user = data.user or User()
    project = data.project or Project()
    return HookEvent(
        event=EVENT_PULL_REQUEST,
        ref=f"refs/merge-requests/{number}/head",
        commit=last.id,
        before=attrs.oldrev,
        branch=attrs.target_branch,
        message=attrs.title + ("\n\n" + attrs.description if attrs.description else ""),
        title=attrs.title,
        author=user.username,
        author_email=last.author.email if last.author else "",
        author_avatar=user.avatar_url,
        sender=user.username,
        link=attrs.url,
        action=_MR_ACTIONS[attrs.action],
        pull_request=number,
        source_branch=attrs.source_branch,
        target_branch=attrs.target_branch,
        # Same project by id (and by name when both are given), else a fork; unknown is a fork.
        fork=not attrs.source_project_id
        or attrs.source_project_id != attrs.target_project_id
        or bool(source and target and source != target),
        repo=project.path_with_namespace,
        clone_url=project.git_http_url,
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
