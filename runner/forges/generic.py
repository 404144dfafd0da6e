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

import re
from collections.abc import Mapping
from typing import Any

from runner.errors import BadRequest
from runner.forges.base import (
    EVENT_CUSTOM,
    EVENT_PULL_REQUEST,
    EVENT_PUSH,
    EVENT_TAG,
    ZERO_SHA,
    HookEvent,
    StatusReport,
    check_hmac,
    first_line,
    header,
    hmac_hex,
    load_json,
    split_ref,
)
from runner.forges.status_http import DEFAULT_TIMEOUT, post_json

NAME = "generic"
SIGNATURE_HEADER = "X-Runner-Signature"
DELIVERY_HEADER = "X-Runner-Delivery"
EVENTS = (EVENT_PUSH, EVENT_TAG, EVENT_PULL_REQUEST, EVENT_CUSTOM)
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_STRING_FIELDS = (
    "before",
    "message",
    "author",
    "author_email",
    "link",
    "sender",
    "source_branch",
    "target_branch",
    "action",
    "target",
)


def signature(body: bytes, secret: str) -> str:
    """The ``X-Runner-Signature`` value for ``body``: ``sha256=`` + hex HMAC-SHA256."""
    return "sha256=" + hmac_hex(secret, body)


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Check ``X-Runner-Signature: sha256=<hmac>``; raise ``Unauthorized`` when it is wrong."""
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
    """``(event, "")`` for a build, ``(None, reason)`` for an ignored delivery.

    Raises ``BadRequest`` naming the field that is missing or of the wrong type.
    """
    data = load_json(body, NAME)
    kind = _text(data, "event") or EVENT_PUSH
    if kind not in EVENTS:
        raise BadRequest(f"generic webhook: event {kind!r} is not one of {', '.join(EVENTS)}")
    ref = _text(data, "ref")
    branch, tag = split_ref(ref) if ref else (_text(data, "branch"), _text(data, "tag"))
    if not ref:
        ref = f"refs/tags/{tag}" if tag else (f"refs/heads/{branch}" if branch else "")
    commit = _text(data, "commit")
    if data.get("deleted") or commit == ZERO_SHA:
        return None, f"{ref or 'the ref'} was deleted"
    if not (commit or ref):
        raise BadRequest("generic webhook: give 'commit' or 'ref' (or 'branch'/'tag')")
    if commit and not _SHA.match(commit):
        raise BadRequest(f"generic webhook: commit {commit!r} is not a hex sha")
    if tag and kind == EVENT_PUSH:
        kind = EVENT_TAG
    number = data.get("pull_request") or 0
    if not isinstance(number, int):
        raise BadRequest("generic webhook: 'pull_request' must be a number")
    if kind == EVENT_PULL_REQUEST and not number:
        raise BadRequest("generic webhook: a pull_request event needs 'pull_request' (its number)")
    files = data.get("changed_files")
    if files is not None and not (
        isinstance(files, list) and all(isinstance(f, str) for f in files)
    ):
        raise BadRequest("generic webhook: 'changed_files' must be a list of paths")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise BadRequest("generic webhook: 'params' must be an object of strings")
    event = HookEvent(
        event=kind,
        ref=ref,
        commit=commit.lower(),
        branch=branch,
        tag=tag,
        pull_request=number,
        changed_files=files,
        params={str(k): str(v) for k, v in params.items()},
        delivery_id=header(headers, DELIVERY_HEADER) or _text(data, "delivery"),
        **{name: _text(data, name) for name in _STRING_FIELDS},
    )
    event.title = first_line(event.message)
    if kind == EVENT_PULL_REQUEST and not event.branch:
        event.branch = event.target_branch
    return event, ""


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise BadRequest(f"generic webhook: {name!r} must be a string")
    return str(value)


class StatusClient:
    """POSTs each status as JSON to ``base_url`` (the repository's ``forge_url``).

    Body: ``{"repo", "commit", "ref", "status", "description", "target_url", "context"}``;
    ``Authorization: Bearer <forge_token>`` when a token is set. ``send`` raises ``StatusError``.
    """

    def __init__(self, base_url: str, token: str, *, session=None, timeout=DEFAULT_TIMEOUT):
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
