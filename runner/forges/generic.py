"""The generic webhook: a small JSON body signed with HMAC-SHA256, for any other git host or
script. Documented in docs/webhooks.md.

Request: ``POST /hook/<owner>/<name>``, ``Content-Type: application/json``, header
``X-Runner-Signature: sha256=<hex HMAC-SHA256 of the body keyed with the webhook secret>``,
optional ``X-Runner-Delivery: <unique id>`` (replays of the same id build once).

Body fields: ``event`` (push, tag, pull_request or custom; default push), ``ref``
(``refs/heads/x``, ``refs/tags/v1``), or ``branch``/``tag``, ``commit`` (sha; when absent the
tip of ``ref`` is built), ``before``, ``message``, ``author``, ``author_email``, ``link``,
``sender``, ``pull_request``, ``source_branch``, ``target_branch``, ``action``, ``target``
(deploy environment), ``changed_files`` (list), ``params`` (string map, extra variables),
``deleted`` (true: ignored), ``delivery`` (alternative to the header).

Commit statuses: when the repository has a ``forge_url``, each status is POSTed there as JSON.
"""

from __future__ import annotations

from typing import Annotated, Any

import requests
from pydantic import BeforeValidator, Field

from runner.errors import BadRequest
from runner.forges.base import (
    EVENT_CUSTOM,
    EVENT_PULL_REQUEST,
    EVENT_PUSH,
    EVENT_TAG,
    ZERO_SHA,
    Forge,
    Headers,
    HmacSignature,
    StatusReport,
    header,
    split_ref,
)
from runner.forges.payload import (
    Flag,
    Number,
    Payload,
    Ref,
    Sha,
    Text,
    load_json,
    validate,
)
from runner.forges.status_http import DEFAULT_TIMEOUT, post_json
from runner.pipeline.spec import BuildContext

DELIVERY_HEADER = "X-Runner-Delivery"
EVENTS = (EVENT_PUSH, EVENT_TAG, EVENT_PULL_REQUEST, EVENT_CUSTOM)


def _scalar_text(value: Any) -> Any:
    """Numbers are accepted where text is expected (scripts write ``"tag": 2``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


# A text field of the generic body: a string or a number.
Scalar = Annotated[Text, BeforeValidator(_scalar_text)]


class GenericPayload(Payload):
    """The generic webhook's body (docs/webhooks.md): every field it reads."""

    event: Scalar = ""
    ref: Ref = ""
    branch: Annotated[Ref, BeforeValidator(_scalar_text)] = ""
    tag: Annotated[Ref, BeforeValidator(_scalar_text)] = ""
    commit: Sha = ""
    before: Sha = ""
    message: Scalar = ""
    author: Scalar = ""
    author_email: Scalar = ""
    link: Scalar = ""
    sender: Scalar = ""
    pull_request: Number = 0
    source_branch: Scalar = ""
    target_branch: Scalar = ""
    action: Scalar = ""
    target: Scalar = ""
    changed_files: list[Text] | None = None
    params: Annotated[dict[Text, Scalar], BeforeValidator(lambda v: {} if v is None else v)] = (
        Field(default_factory=dict)
    )
    deleted: Flag = False
    delivery: Scalar = ""


class StatusClient:
    """POSTs each status as JSON to ``base_url`` (the repository's ``forge_url``).

    Body: ``{"repo", "commit", "ref", "status", "description", "target_url", "context"}``;
    ``Authorization: Bearer <forge_token>`` when a token is set. ``send`` raises ``StatusError``.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        self.base_url = base_url
        self.token = token
        self.session = session
        self.timeout = timeout

    def send(self, report: StatusReport) -> None:
        payload = {
            "repo": report.repo,
            "commit": report.commit,
            "ref": report.ref,
            "status": report.status,
            "description": report.describe(),
            "target_url": report.target_url,
            "context": report.context,
        }
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        post_json(self.base_url, payload, headers, session=self.session, timeout=self.timeout)


class Generic(Forge):
    """The generic webhook: ``X-Runner-Signature``, the event and the rest in the body;
    statuses POSTed as JSON to the repository's forge URL, with a token when it has one."""

    name = "generic"
    title = "generic"
    signing = HmacSignature("X-Runner-Signature", prefix="sha256=")
    status_needs_token = False

    def parse_with_reason(self, headers: Headers, body: bytes) -> tuple[BuildContext | None, str]:
        """``(event, "")`` for a build, ``(None, reason)`` for an ignored delivery.

        Raises ``BadRequest`` naming the field that is missing or of the wrong type.
        """
        data = validate(GenericPayload, load_json(body, self.title), "generic")
        kind = data.event or EVENT_PUSH
        if kind not in EVENTS:
            raise BadRequest(
                f"generic webhook: event {kind[:40]!r} is not one of {', '.join(EVENTS)}"
            )
        ref = data.ref
        branch, tag = split_ref(ref) if ref else (data.branch, data.tag)
        if not ref:
            ref = f"refs/tags/{tag}" if tag else (f"refs/heads/{branch}" if branch else "")
        commit = data.commit
        if data.deleted or commit == ZERO_SHA:
            return None, f"{ref or 'the ref'} was deleted"
        if not (commit or ref):
            raise BadRequest("generic webhook: give 'commit' or 'ref' (or 'branch'/'tag')")
        if tag and kind == EVENT_PUSH:
            kind = EVENT_TAG
        if kind == EVENT_PULL_REQUEST and not data.pull_request:
            raise BadRequest(
                "generic webhook: a pull_request event needs 'pull_request' (its number)"
            )
        if kind == EVENT_PULL_REQUEST and not branch:
            branch = data.target_branch
        event = BuildContext(
            repo="",
            event=kind,
            ref=ref,
            commit=commit.lower(),
            before=data.before,
            branch=branch,
            tag=tag,
            message=data.message,
            author=data.author,
            author_email=data.author_email,
            link=data.link,
            sender=data.sender,
            action=data.action,
            pull_request=data.pull_request,
            source_branch=data.source_branch,
            target_branch=data.target_branch,
            target=data.target,
            changed_files=data.changed_files,
            params=dict(data.params),
            delivery_id=header(headers, DELIVERY_HEADER) or data.delivery,
        )
        return event, ""

    def status_client(
        self, base_url: str, token: str, *, session: requests.Session | None = None
    ) -> StatusClient:
        """A client POSTing each status as JSON to ``base_url``."""
        return StatusClient(base_url, token, session=session)


GENERIC = Generic()


# The signature header's value for a body, for tests and scripts.
signature = GENERIC.signature
