"""The public event stream: build and step changes and live log lines of many topics, on one
Server-Sent Events connection (``GET /api/v1/stream``).

Topics are query parameters, each repeatable, at most ``MAX_TOPICS`` in all:

- ``repo=OWNER/NAME``: a build of the repository appeared or changed status (``build`` events);
- ``build=OWNER/NAME/NUMBER``: the build's state, first whole, then on every change (``state``
  events), or ``deleted`` when it is deleted;
- ``log=STEP_ID`` or ``log=STEP_ID:SEQ``: the step's log chunks after chunk ``SEQ`` (``log``
  events, each with its lines and ``elapsed_ms``, the time of each of them since the step
  started, or null), then ``log-end`` once the step finished and every chunk was sent.

Every topic needs the read role on its repository, checked once when the stream opens (a topic
the caller may not read refuses the whole stream, as the neighbouring endpoints answer). Each
event's ``data`` is one JSON object. A client resumes a log by reconnecting with ``log=ID:SEQ``
of the last chunk it got; chunks the live fan-out dropped for a slow reader are read again from
the store, so nothing is lost or doubled. Comment lines keep the connection open; when the
session is logged out or the token revoked the stream sends ``signed-out`` and ends.

A stream holds a request thread for as long as it lasts, so it is admitted like the single-log
stream (``services.admission.streams``: 429 or 503 with ``Retry-After`` beyond the limits).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Response, request, session, stream_with_context
from flask.typing import ResponseReturnValue

from runner.core import DONE_STATUSES, ROLE_READ, Build, Repo
from runner.errors import BadRequest, Forbidden, NotFound
from runner.logtext import split_lines
from runner.server.api import api_bp
from runner.server.api.common import get_build, repo_for
from runner.server.api.logs import _viewer, chunk_number
from runner.server.auth import has_role, identify, require_user
from runner.server.changes import ChangeSubscription
from runner.server.services import Services, current_services
from runner.services.values import whole_number

MAX_TOPICS = 64
# Bytes of followed logs read before a stream answers (then one chunk more at most).
READ_AHEAD_BYTES = 1024 * 1024
KEEPALIVE_SECONDS = 10.0


@dataclass
class Topics:
    """The checked topics of one stream."""

    repos: dict[int, Repo] = field(default_factory=dict)
    builds: dict[int, tuple[Repo, Build]] = field(default_factory=dict)
    logs: dict[int, int] = field(default_factory=dict)  # step id -> resume after this seq
    log_repos: dict[int, int] = field(default_factory=dict)  # step id -> its repository's id
    gone_builds: list[tuple[Repo, int]] = field(default_factory=list)  # deleted (or never made)
    gone_logs: list[int] = field(default_factory=list)  # steps not found or not readable


def _split_slug(value: str, what: str) -> tuple[str, str, str]:
    parts = value.strip().split("/")
    if len(parts) == 2 and what == "repo" and all(parts):
        return parts[0], parts[1], ""
    if len(parts) == 3 and what == "build" and all(parts):
        return parts[0], parts[1], parts[2]
    shape = "OWNER/NAME" if what == "repo" else "OWNER/NAME/NUMBER"
    raise BadRequest(f"{what}={value[:80]!r}: give {shape}")


def parse_topics(services: Services) -> Topics:
    """The stream's topics from the query string, each authorised; 400 for a malformed or
    excess topic, 401/403/404 as the neighbouring endpoints answer."""
    repos = request.args.getlist("repo")
    builds = request.args.getlist("build")
    logs = request.args.getlist("log")
    count = len(repos) + len(builds) + len(logs)
    if count == 0:
        raise BadRequest(
            "name at least one topic: repo=OWNER/NAME, build=OWNER/NAME/NUMBER or log=STEP_ID[:SEQ]"
        )
    if count > MAX_TOPICS:
        raise BadRequest(f"{count} topics: one stream follows at most {MAX_TOPICS}")
    require_user()
    topics = Topics()
    for value in repos:
        owner, name, _ = _split_slug(value, "repo")
        repo = repo_for(owner, name, ROLE_READ)
        topics.repos[repo.id] = repo
    for value in builds:
        owner, name, raw = _split_slug(value, "build")
        repo = repo_for(owner, name, ROLE_READ)
        number = whole_number(raw, "build number", low=1)
        try:
            build = get_build(repo, number)
        except NotFound:
            topics.gone_builds.append((repo, number))
            continue
        topics.builds[build.id] = (repo, build)
    for value in logs:
        raw_id, _, raw_after = value.partition(":")
        step_id = whole_number(raw_id.strip(), "log (a step id)", low=1)
        after = chunk_number(raw_after.strip() or "-1", "log resume point")
        repo_id = _readable_step(services, step_id)
        if repo_id is not None:
            topics.logs[step_id] = max(after, topics.logs.get(step_id, -1))
            topics.log_repos[step_id] = repo_id
        else:
            topics.gone_logs.append(step_id)
    return topics


def _readable_step(services: Services, step_id: int) -> int | None:
    """The id of the step's repository when the step exists and the caller may read it, else
    None. A missing step and one the caller may not read get the same answer (its log is
    over), so step ids tell nothing."""
    stores = services.stores
    try:
        step = stores.steps.get(step_id)
        build = stores.builds.header(stores.stages.get(step.stage_id).build_id)
        repo = stores.repos.get(build.repo_id)
        repo_for(repo.owner, repo.name, ROLE_READ)
    except (NotFound, Forbidden):
        return None
    return repo.id


def _sse(kind: str, payload: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


def _log_event(step_id: int, seq: int, lines: list[str], elapsed_ms: int | None) -> str:
    return _sse("log", {"step": step_id, "seq": seq, "lines": lines, "elapsed_ms": elapsed_ms})


class _Credentials:
    """Whether the stream's caller is still signed in: the session's epoch, or the token."""

    def __init__(self) -> None:
        header = request.headers.get("Authorization", "")
        self.token = header.partition(" ")[2].strip() if identify().token_id else ""
        user = identify().user
        self.user_id = user.id if user else 0
        self.epoch = session.get("epoch")

    def valid(self, services: Services) -> bool:
        stores = services.stores
        if self.token:
            return stores.tokens.verify(self.token) is not None
        try:
            return bool(stores.users.get(self.user_id).session_epoch == self.epoch)
        except NotFound:
            return False

    def unreadable(self, services: Services, repo_ids: set[int]) -> str:
        """The first of these repositories the caller may no longer read (a role taken away,
        a repository made private or removed), as its name; "" when all are readable. Read
        from the store again: the stream outlives the request's identity."""
        stores = services.stores
        try:
            user = stores.users.get(self.user_id)
        except NotFound:
            return "?"
        for repo_id in sorted(repo_ids):
            try:
                repo = stores.repos.get(repo_id)
            except NotFound:
                return f"repository {repo_id}"
            if not has_role(user, repo, ROLE_READ):
                return repo.slug
        return ""


class _LogFollow:
    """One followed log of a stream: its live subscription and the last chunk sent."""

    def __init__(self, services: Services, step_id: int, after: int, wake: threading.Event):
        self.step_id = step_id
        self.last = after
        self.services = services
        # Subscribe before reading the store, so no chunk published in between is missed.
        self.sub = services.livelog.subscribe(step_id, after, wake=wake.set)
        # (seq, data, elapsed_ms) of the chunk read before the stream answered, if one was
        self._ahead: list[tuple[int, bytes, int | None]] = []

    def read_ahead(self) -> int:
        """Read the first stored chunk now, before the stream answers: a log bucket that does
        not answer is a 503 with Retry-After, which the pages wait out, not a stream that opens
        and drops at once. Returns the bytes it holds until the stream sends them."""
        self._ahead = self.services.stores.logs.page(self.step_id, self.last, max_chunks=1)
        return sum(len(data) for _seq, data, _elapsed in self._ahead)

    def stored(self, before: int | None = None) -> Iterator[str]:
        """Stored chunks after the last one sent (up to ``before``), page by page."""
        ahead, self._ahead = self._ahead, []
        after = ahead[-1][0] if ahead else self.last
        pages = itertools.chain(ahead, self.services.stores.logs.iter_timed(self.step_id, after))
        for seq, data, elapsed in pages:
            if before is not None and seq >= before:
                return
            yield _log_event(self.step_id, seq, split_lines(data), elapsed)
            self.last = seq

    def live(self) -> Iterator[str]:
        """The chunks that arrived live, filling gaps (chunks dropped for a slow reader) from
        the store."""
        for seq, lines, elapsed in self.sub.drain():
            if seq <= self.last:
                continue
            if seq > self.last + 1:
                yield from self.stored(before=seq)
            yield _log_event(self.step_id, seq, lines, elapsed)
            self.last = seq

    def finished(self) -> bool:
        if not self.sub.ended:
            try:
                return self.services.stores.steps.get(self.step_id).status in DONE_STATUSES
            except NotFound:
                return True
        return True

    def close(self) -> None:
        self.sub.close()


def _describe(build: Build) -> dict[str, Any]:
    from webui.live_state import build_state

    return build_state(build)


def _state_event(repo: Repo, build: Build) -> str:
    payload = {
        "repo": repo.slug,
        "number": build.number,
        "build_id": build.id,
        "changes": [],
        "state": _describe(build),
    }
    return _sse("state", payload)


@api_bp.get("/stream")
def event_stream() -> ResponseReturnValue:
    services = current_services()
    topics = parse_topics(services)
    credentials = _Credentials()
    ticket = services.admission.streams.enter(_viewer())
    wake = threading.Event()
    changes: ChangeSubscription | None = None
    follows: dict[int, _LogFollow] = {}

    def close() -> None:
        ticket.release()
        if changes is not None:
            changes.close()
        for follow in follows.values():
            follow.close()

    try:
        changes = services.changes.subscribe(topics.builds, topics.repos, wake=wake.set)
        for step_id, after in topics.logs.items():
            follows[step_id] = _LogFollow(services, step_id, after, wake)
        # Within a budget: a stream may follow MAX_TOPICS logs of chunks up to 4 MiB each.
        held = 0
        for follow in follows.values():
            if held >= READ_AHEAD_BYTES:
                break
            held += follow.read_ahead()
    except BaseException:
        close()
        raise

    def generate() -> Iterator[str]:
        try:
            yield "retry: 2000\n\n"
            yield _sse(
                "ready",
                {
                    "repos": [r.slug for r in topics.repos.values()],
                    "builds": list(topics.builds),
                    "logs": list(topics.logs),
                },
            )
            for repo, build in topics.builds.values():
                yield _state_event(repo, build)
            for repo, number in topics.gone_builds:
                yield _sse("deleted", {"build_id": 0, "repo": repo.slug, "number": number})
            for step_id in topics.gone_logs:
                yield _sse("log-end", {"step": step_id, "gone": True})
            for follow in follows.values():
                yield from follow.stored()
            quiet_since = checked = time.monotonic()
            while True:
                sent = False
                for event in changes.drain():
                    sent = True
                    if event["type"] == "deleted":
                        event = _deleted(event, topics)
                        changes.forget(event["build_id"])
                    yield _sse(event["type"], _public(event))
                if changes.lost:
                    # Events were dropped for this slow reader: the state of each build again,
                    # and a nudge for each repository's list to read its rows again.
                    changes.lost = False
                    for build_id, (repo, _) in list(topics.builds.items()):
                        if build_id not in changes.builds:
                            continue
                        try:
                            yield _state_event(repo, services.stores.builds.get(build_id))
                        except NotFound:
                            yield _sse("deleted", _public(_deleted({"build_id": build_id}, topics)))
                            changes.forget(build_id)
                    for repo in topics.repos.values():
                        yield _sse("build", {"repo": repo.slug, "number": 0, "status": "resync"})
                for step_id, follow in list(follows.items()):
                    for event in follow.live():
                        sent = True
                        yield event
                    if follow.finished():
                        yield from follow.stored()
                        yield _sse("log-end", {"step": step_id})
                        follow.close()
                        del follows[step_id]
                        sent = True
                if not follows and not changes.builds and not changes.repos:
                    yield _sse("end", {})
                    return
                now = time.monotonic()
                if sent:
                    quiet_since = now
                if now - checked >= KEEPALIVE_SECONDS:
                    checked = now
                    if not credentials.valid(services):
                        yield _sse("signed-out", {})
                        return
                    # Read access is the topics' own: a role taken away ends the stream.
                    followed = set(topics.repos) | {r.id for r, _ in topics.builds.values()}
                    followed |= {topics.log_repos[step_id] for step_id in follows}
                    lost = credentials.unreadable(services, followed)
                    if lost:
                        yield _sse("end", {"reason": f"you may no longer read {lost}"})
                        return
                if now - quiet_since >= KEEPALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    quiet_since = now
                wake.wait(max(0.0, KEEPALIVE_SECONDS - (time.monotonic() - quiet_since)))
                wake.clear()
        finally:
            close()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    response = Response(
        stream_with_context(generate()), mimetype="text/event-stream", headers=headers
    )
    # A stream closed before its first chunk never runs the generator's cleanup.
    response.call_on_close(close)
    return response


def _deleted(event: dict[str, Any], topics: Topics) -> dict[str, Any]:
    """A deleted build's event, saying which build it was."""
    repo, build = topics.builds[event["build_id"]]
    return {"type": "deleted", "build_id": build.id, "repo": repo.slug, "number": build.number}


def _public(event: dict[str, Any]) -> dict[str, Any]:
    """An event's data as clients see it (without its type and internal repository id)."""
    return {k: v for k, v in event.items() if k not in ("repo_id", "type")}
