"""GitHub webhooks (``X-Hub-Signature-256`` HMAC) and commit statuses.

Events built: ``push`` to a branch or a tag, ``pull_request`` opened/synchronize/reopened.
Ignored: ``ping``, deleted refs, other pull request actions, every other event (``create`` too:
a tag builds from its ``push``). The body may be JSON or the ``payload=`` form encoding.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote

import requests

from runner.errors import BadRequest
from runner.forges.base import (
    EVENT_PULL_REQUEST,
    EVENT_PUSH,
    EVENT_TAG,
    GITHUB_STATES,
    PULL_REQUEST_ACTIONS,
    ZERO_SHA,
    HeaderEventForge,
    Headers,
    HmacSignature,
    Ignored,
    StatusReport,
    header,
    split_ref,
)
from runner.forges.payload import (
    Commit,
    Flag,
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
from runner.pipeline.spec import BuildContext

DEFAULT_API = "https://api.github.com"


# The fields read from GitHub's payloads (docs.github.com, "Webhook events and payloads").


class Repository(Payload):
    full_name: Text = ""
    clone_url: Text = ""


class User(Payload):
    login: Text = ""
    avatar_url: Text = ""


class PushPayload(Payload):
    """``push`` (branches and tags)."""

    ref: Ref
    before: Sha = ""
    after: Sha = ""
    deleted: Flag = False
    base_ref: Text = ""
    compare: Text = ""
    head_commit: Commit | None = None
    commits: list[Commit] | None = None
    repository: Repository | None = None
    sender: User | None = None


class PullRequestSide(Payload):
    """``pull_request.head`` or ``.base``; ``repo`` is null when a fork was deleted."""

    ref: Text = ""
    sha: Sha = ""
    repo: Repository | None = None


class PullRequest(Payload):
    number: Number = 0
    title: Text = ""
    body: Text = ""
    html_url: Text = ""
    user: User | None = None
    head: PullRequestSide
    base: PullRequestSide | None = None


class PullRequestPayload(Payload):
    """``pull_request``."""

    action: Text = ""
    number: Number = 0
    pull_request: PullRequest
    repository: Repository | None = None
    sender: User | None = None


def _push(data: PushPayload) -> BuildContext:
    if data.deleted or data.after == ZERO_SHA:
        raise Ignored(f"{data.ref} was deleted")
    head = data.head_commit or Commit()
    commit = head.id or data.after
    if not commit:
        raise BadRequest("GitHub push without 'after' or 'head_commit.id'")
    branch, tag = split_ref(data.ref)
    author = head.author
    repo = data.repository or Repository()
    sender = data.sender or User()
    return BuildContext(
        event=EVENT_TAG if tag else EVENT_PUSH,
        ref=data.ref,
        commit=commit,
        before="" if data.before == ZERO_SHA else data.before,
        branch=branch or data.base_ref.removeprefix("refs/heads/"),
        tag=tag,
        message=head.message,
        author=(author.username or author.name) if author else "",
        author_email=author.email if author else "",
        author_avatar=sender.avatar_url,
        sender=sender.login,
        link=data.compare or head.url,
        repo=repo.full_name,
        remote_url=repo.clone_url,
        changed_files=changed_files(data.commits) if not tag else None,
    )


def _pull_request(data: PullRequestPayload) -> BuildContext:
    pr = data.pull_request
    number = data.number or pr.number
    if data.action not in PULL_REQUEST_ACTIONS:
        raise Ignored(
            f"pull request #{number} {data.action[:40]}: only opened, synchronize and "
            "reopened build"
        )
    if not pr.head.sha:
        raise BadRequest("GitHub pull_request webhook: no 'pull_request.head.sha'")
    if not number:
        raise BadRequest("GitHub pull_request webhook: no pull request 'number'")
    base = pr.base or PullRequestSide()
    head_repo = pr.head.repo.full_name if pr.head.repo else ""
    base_repo = base.repo.full_name if base.repo else ""
    user = pr.user or User()
    repo = data.repository or Repository()
    return BuildContext(
        event=EVENT_PULL_REQUEST,
        ref=f"refs/pull/{number}/head",
        commit=pr.head.sha,
        before=base.sha,
        branch=base.ref,
        message=pr.title + ("\n\n" + pr.body if pr.body else ""),
        author=user.login,
        author_avatar=user.avatar_url,
        sender=(data.sender or User()).login,
        link=pr.html_url,
        action=data.action,
        pull_request=number,
        source_branch=pr.head.ref,
        target_branch=base.ref,
        # A head repository that is gone or unnamed is not known to be this one: a fork.
        fork=not head_repo or head_repo != (base_repo or repo.full_name),
        repo=repo.full_name,
        remote_url=repo.clone_url,
    )


class StatusClient:
    """Creates commit statuses through ``POST /repos/{owner}/{repo}/statuses/{sha}``.

    ``base_url`` is the API root (``https://api.github.com``, or ``https://host/api/v3`` for
    GitHub Enterprise). ``send`` raises ``StatusError``; callers log it.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ):
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


class GitHub(HeaderEventForge):
    """GitHub and GitHub Enterprise: ``X-Hub-Signature-256``, events ``push`` and
    ``pull_request``, statuses through the REST API (``https://api.github.com`` by default)."""

    name = "github"
    title = "GitHub"
    signing = HmacSignature("X-Hub-Signature-256", prefix="sha256=")
    event_header = "X-GitHub-Event"
    delivery_header = "X-GitHub-Delivery"

    def load(self, headers: Headers, body: bytes) -> dict[str, Any]:
        """The JSON body, or the ``payload`` field of a form-encoded one."""
        if header(headers, "Content-Type").startswith("application/x-www-form-urlencoded"):
            try:
                fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
            except ValueError:
                raise BadRequest("form-encoded GitHub webhook with more than 20 fields") from None
            payload = fields.get("payload")
            if not payload:
                raise BadRequest("form-encoded GitHub webhook without a payload field")
            body = payload[0].encode("utf-8")
        return load_json(body, self.title)

    def read(self, kind: str, data: dict[str, Any]) -> BuildContext:
        """The event of a ``push`` or ``pull_request``; a ``ping`` and the rest are ignored."""
        if kind == "push":
            return _push(validate(PushPayload, data, "GitHub push"))
        if kind == "pull_request":
            return _pull_request(validate(PullRequestPayload, data, "GitHub pull_request"))
        if kind == "ping":
            raise Ignored("ping received; the webhook works")
        raise Ignored(f"GitHub event {kind[:40]!r} does not start builds")

    def api_base(self, clone_url: str) -> str:
        """GitHub's public API; GitHub Enterprise is named by the repository's forge URL."""
        return DEFAULT_API

    def status_client(
        self, base_url: str, token: str, *, session: requests.Session | None = None
    ) -> StatusClient:
        """A client of ``POST /repos/{owner}/{repo}/statuses/{sha}`` at ``base_url``."""
        return StatusClient(base_url, token, session=session)


GITHUB = GitHub()


# The signature header's value for a body, for tests and scripts.
signature = GITHUB.signature
