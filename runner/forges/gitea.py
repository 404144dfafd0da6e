"""Gitea and Gogs: the webhook format they share (a GitHub-like JSON body signed with a plain
hex HMAC-SHA256), one forge class configured by each one's header names, and their commit
status client.

Events built: ``push`` to a branch or a tag, ``pull_request`` opened/synchronized/reopened.
Ignored: deleted refs, ``create``/``delete`` events (a tag builds from its ``push``), other pull
request actions, every other event.
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
    GITHUB_STATES,
    ZERO_SHA,
    HeaderEventForge,
    HmacSignature,
    Ignored,
    Signing,
    StatusReport,
    api_base_of_host,
    split_ref,
)
from runner.forges.payload import (
    Commit,
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

_PR_ACTIONS = {"opened": "opened", "reopened": "reopened", "synchronized": "synchronize"}


# The fields read from Gitea's and Gogs's payloads (both follow GitHub's shapes loosely).


class Repository(Payload):
    full_name: Text = ""
    clone_url: Text = ""


class User(Payload):
    login: Text = ""
    username: Text = ""
    email: Text = ""
    avatar_url: Text = ""


class PushPayload(Payload):
    """``push`` (branches and tags); Gogs may leave out ``head_commit``."""

    ref: Ref
    before: Sha = ""
    after: Sha = ""
    compare_url: Text = ""
    head_commit: Commit | None = None
    commits: list[Commit] | None = None
    repository: Repository | None = None
    pusher: User | None = None
    sender: User | None = None


class PullRequestSide(Payload):
    """Gitea's ``pull_request.head`` / ``.base``."""

    ref: Text = ""
    sha: Sha = ""
    repo: Repository | None = None


class PullRequest(Payload):
    """Gitea sends ``head``/``base``; Gogs ``head_branch``/``head_repo``/``base_branch``/
    ``base_repo`` and no head sha, which the triggerer resolves from the pull request's ref."""

    number: Number = 0
    title: Text = ""
    body: Text = ""
    html_url: Text = ""
    user: User | None = None
    head: PullRequestSide | None = None
    base: PullRequestSide | None = None
    head_branch: Text = ""
    head_repo: Repository | None = None
    base_branch: Text = ""
    base_repo: Repository | None = None


class PullRequestPayload(Payload):
    """``pull_request``."""

    action: Text = ""
    number: Number = 0
    pull_request: PullRequest
    repository: Repository | None = None
    sender: User | None = None


def _push(data: PushPayload) -> BuildContext:
    if not data.after or data.after == ZERO_SHA:
        raise Ignored(f"{data.ref} was deleted")
    commits = data.commits or []
    head = data.head_commit or next(
        (c for c in commits if c.id == data.after), commits[0] if commits else Commit()
    )
    branch, tag = split_ref(data.ref)
    repo = data.repository or Repository()
    pusher = data.pusher or User()
    sender = data.sender or User()
    author = head.author
    return BuildContext(
        event=EVENT_TAG if tag else EVENT_PUSH,
        ref=data.ref,
        commit=data.after,
        before="" if data.before == ZERO_SHA else data.before,
        branch=branch,
        tag=tag,
        message=head.message,
        author=(author.username or author.name if author else "") or pusher.login,
        author_email=(author.email if author else "") or pusher.email,
        author_avatar=sender.avatar_url or pusher.avatar_url,
        sender=sender.login or pusher.login,
        link=data.compare_url or head.url,
        repo=repo.full_name,
        remote_url=repo.clone_url,
        changed_files=changed_files(commits) if not tag else None,
    )


def _pull_request(data: PullRequestPayload) -> BuildContext:
    pr = data.pull_request
    number = data.number or pr.number
    if data.action not in _PR_ACTIONS:
        raise Ignored(
            f"pull request #{number} {data.action[:40]}: only opened, synchronized and "
            "reopened build"
        )
    if not number:
        raise BadRequest("pull_request webhook: no pull request 'number'")
    head = pr.head or PullRequestSide()
    base = pr.base or PullRequestSide()
    head_repo = (head.repo or pr.head_repo or Repository()).full_name
    base_repo = (base.repo or pr.base_repo or data.repository or Repository()).full_name
    base_ref = base.ref or pr.base_branch
    user = pr.user or User()
    sender = data.sender or User()
    repo = data.repository or Repository()
    return BuildContext(
        event=EVENT_PULL_REQUEST,
        ref=f"refs/pull/{number}/head",
        commit=head.sha,
        before=base.sha,
        branch=base_ref,
        message=pr.title + ("\n\n" + pr.body if pr.body else ""),
        author=user.login or user.username,
        author_email=user.email,
        author_avatar=user.avatar_url,
        sender=sender.login or sender.username,
        link=pr.html_url,
        action=_PR_ACTIONS[data.action],
        pull_request=number,
        source_branch=head.ref or pr.head_branch,
        target_branch=base_ref,
        # A head repository that is gone or unnamed is not known to be this one: a fork.
        fork=not head_repo or head_repo != base_repo,
        repo=repo.full_name,
        remote_url=repo.clone_url,
    )


class StatusClient:
    """Creates commit statuses through ``POST /repos/{owner}/{repo}/statuses/{sha}``.

    ``base_url`` is the API root (``https://gitea.example.com/api/v1``). Gitea implements this
    endpoint; stock Gogs does not, so reports to Gogs fail (and are logged) unless the Gogs
    server has it. ``send`` raises ``StatusError``.
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
        url = f"{self.base_url}/repos/{quote(report.repo)}/statuses/{report.commit}"
        payload = {
            "state": GITHUB_STATES.get(report.status, "error"),
            "target_url": report.target_url,
            "description": report.describe()[:255],
            "context": report.context,
        }
        headers = {"Authorization": f"token {self.token}"}
        post_json(url, payload, headers, session=self.session, timeout=self.timeout)


class GiteaLike(HeaderEventForge):
    """A forge speaking Gitea's webhook format, configured by its signature and header names.

    Gitea and Gogs send the same JSON shapes (the schemas above read either: where they differ,
    as in a pull request's head, a model names both fields), sign the body with a plain hex
    HMAC-SHA256 and take statuses at ``/api/v1``; only the names of their headers differ.
    """

    def __init__(
        self,
        *,
        name: str,
        title: str,
        signing: Signing,
        event_header: str,
        delivery_header: str,
    ):
        self.name = name
        self.title = title
        self.signing = signing
        self.event_header = event_header
        self.delivery_header = delivery_header

    def read(self, kind: str, data: dict[str, Any]) -> BuildContext:
        """The event of a ``push`` or ``pull_request``; the rest are ignored."""
        if kind == "push":
            return _push(validate(PushPayload, data, f"{self.title} push"))
        if kind == "pull_request":
            return _pull_request(validate(PullRequestPayload, data, f"{self.title} pull_request"))
        if kind in ("create", "delete"):
            raise Ignored(f"{self.title} {kind} events do not build; pushes of tags do")
        raise Ignored(f"{self.title} event {kind[:40]!r} does not start builds")

    def api_base(self, clone_url: str) -> str:
        """``https://host/api/v1`` for a clone URL on ``host``."""
        return api_base_of_host(clone_url, "/api/v1")

    def status_client(
        self, base_url: str, token: str, *, session: requests.Session | None = None
    ) -> StatusClient:
        """A client of ``POST /repos/{owner}/{repo}/statuses/{sha}`` at ``base_url``."""
        return StatusClient(base_url, token, session=session)


GITEA = GiteaLike(
    name="gitea",
    title="Gitea",
    signing=HmacSignature("X-Gitea-Signature"),
    event_header="X-Gitea-Event",
    delivery_header="X-Gitea-Delivery",
)
GOGS = GiteaLike(
    name="gogs",
    title="Gogs",
    signing=HmacSignature("X-Gogs-Signature"),
    event_header="X-Gogs-Event",
    delivery_header="X-Gogs-Delivery",
)
