"""GitLab webhooks (``X-Gitlab-Token``, compared in constant time) and commit statuses.

Events built: ``Push Hook``, ``Tag Push Hook``, ``Merge Request Hook`` with action open, reopen,
or update carrying new commits (``oldrev``). Ignored: deleted branches and tags (``after`` all
zeros), other merge request actions (close, merge, approve, label changes), every other event.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from runner.errors import BadRequest
from runner.forges.base import (
    EVENT_PULL_REQUEST,
    EVENT_PUSH,
    EVENT_TAG,
    ZERO_SHA,
    HeaderEventForge,
    Ignored,
    StatusReport,
    TokenSignature,
    api_base_of_host,
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
    validate,
)
from runner.forges.status_http import DEFAULT_TIMEOUT, post_json
from runner.pipeline.spec import BuildContext

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


def _push(data: PushPayload) -> BuildContext:
    commit = data.checkout_sha or data.after
    if data.after == ZERO_SHA or not commit:
        raise Ignored(f"{data.ref} was deleted")
    branch, tag = split_ref(data.ref)
    commits = data.commits or []
    head = next((c for c in commits if c.id == commit), commits[-1] if commits else Commit())
    project = data.project or Project()
    message = head.message or data.message
    author = head.author
    return BuildContext(
        event=EVENT_TAG if tag else EVENT_PUSH,
        ref=data.ref,
        commit=commit,
        before="" if data.before == ZERO_SHA else data.before,
        branch=branch,
        tag=tag,
        message=message,
        author=data.user_username or (author.name if author else ""),
        author_email=(author.email if author else "") or data.user_email,
        author_avatar=data.user_avatar,
        sender=data.user_username,
        link=head.url or project.web_url,
        repo=project.path_with_namespace,
        remote_url=project.git_http_url,
        changed_files=_changed_files(data, commits) if not tag else None,
    )


def _changed_files(data: PushPayload, commits: list[Commit]) -> list[str] | None:
    """The paths the push changed; None when GitLab cut the commit list (over 20 commits)."""
    if data.total_commits_count > len(commits):
        return None
    return changed_files(commits)


def _merge_request(data: MergeRequestPayload) -> BuildContext:
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
    return BuildContext(
        event=EVENT_PULL_REQUEST,
        ref=f"refs/merge-requests/{number}/head",
        commit=last.id,
        before=attrs.oldrev,
        branch=attrs.target_branch,
        message=attrs.title + ("\n\n" + attrs.description if attrs.description else ""),
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
        remote_url=project.git_http_url,
    )


class StatusClient:
    """Creates commit statuses through ``POST /projects/{id}/statuses/{sha}`` (API v4).

    ``base_url`` is the API root, e.g. ``https://gitlab.example.com/api/v4``. ``send`` raises
    ``StatusError``; callers log it.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ):
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


class GitLab(HeaderEventForge):
    """GitLab: ``X-Gitlab-Token``, ``Push Hook``, ``Tag Push Hook`` and ``Merge Request Hook``,
    statuses through API v4 at the clone URL's host unless the repository names another."""

    name = "gitlab"
    title = "GitLab"
    signing = TokenSignature("X-Gitlab-Token", forge="GitLab")
    event_header = "X-Gitlab-Event"
    delivery_header = "X-Gitlab-Event-UUID"

    def read(self, kind: str, data: dict[str, Any]) -> BuildContext:
        """The event of a push, tag push or merge request hook; the rest are ignored."""
        if kind in ("Push Hook", "Tag Push Hook"):
            return _push(validate(PushPayload, data, f"GitLab {kind}"))
        if kind == "Merge Request Hook":
            return _merge_request(validate(MergeRequestPayload, data, "GitLab Merge Request Hook"))
        raise Ignored(f"GitLab event {kind[:40]!r} does not start builds")

    def api_base(self, clone_url: str) -> str:
        """``https://host/api/v4`` for a clone URL on ``host``."""
        return api_base_of_host(clone_url, "/api/v4")

    def status_client(
        self, base_url: str, token: str, *, session: requests.Session | None = None
    ) -> StatusClient:
        """A client of ``POST /projects/{id}/statuses/{sha}`` at ``base_url``."""
        return StatusClient(base_url, token, session=session)


GITLAB = GitLab()
