"""Step logs: raw download, the live Server-Sent Events stream, search and line ranges.

The stream sends each stored or live chunk as one event whose ``id`` is the chunk's sequence
number and whose ``data`` lines are the log lines, so a client reconnecting with
``Last-Event-ID`` resumes right after the last chunk it saw. An ``elapsed`` field (which
browsers' ``EventSource`` ignores, as the SSE standard has it for unknown fields) carries the
chunk's milliseconds since the step started, the time of each of its lines, when it is known.
Comment lines keep idle connections open; an ``end`` event closes the stream once the step is
finished and every chunk was sent.

An open stream holds a request thread for as long as it lasts, so streams are admitted by
``services.admission.streams`` (per user and in all, see ``runner.server.admission``): beyond a
limit the stream answers 429 or 503 with ``Retry-After`` before holding anything. Every read of
stored chunks goes page by page within a byte budget (``LogStore.page``), never a whole log.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from urllib.parse import quote

from flask import Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from runner.core import DONE_STATUSES, ROLE_READ, Step
from runner.errors import BadRequest, NotFound
from runner.logtext import split_lines
from runner.server.api import api_bp
from runner.server.api.common import get_build, repo_for
from runner.server.auth import identify
from runner.server.services import Services, current_services
from runner.services.values import whole_number

KEEPALIVE_SECONDS = 10.0

# Characters kept in the plain-ASCII ``filename`` of a download; others become "_".
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._+-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]")


def content_disposition(filename: str) -> str:
    """A ``Content-Disposition: attachment`` value safe for any ``filename`` (RFC 6266).

    ``filename`` is a plain-ASCII fallback (letters, digits, ``._+-``; others become ``_``);
    ``filename*`` (RFC 5987) carries the name in UTF-8, percent-encoded, with control
    characters and path separators replaced. Newlines and quotes cannot reach the header.
    """
    readable = _CONTROL.sub("_", filename).strip() or "log"
    fallback = _UNSAFE_ASCII.sub("_", readable)
    encoded = quote(readable, safe="", errors="replace")  # a lone surrogate becomes "?"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def chunk_number(raw: str, what: str) -> int:
    """A log chunk's sequence number sent by a client (``-1``: before the first); 400 unless it
    is a whole number the database can hold."""
    return whole_number(raw, f"{what} (a chunk number)", low=-1)


def raw_log_response(step: Step, download_name: str = "") -> Response:
    """The step's stored log as ``text/plain``, streamed page by page (memory stays within a
    page whatever the log's size); an attachment named ``download_name`` if one is given."""
    headers = {"X-Log-Cut-Bytes": str(step.log_cut_bytes)}
    if download_name:
        headers["Content-Disposition"] = content_disposition(download_name)
    chunks = current_services().stores.logs.iter_raw(step.id)
    # The first page is read before answering: a log bucket that does not answer is a 503
    # with Retry-After, not a 200 cut short.
    first = next(chunks, b"")
    return Response(
        stream_with_context(itertools.chain([first], chunks)),
        mimetype="text/plain",
        headers=headers,
    )


def _step(owner: str, name: str, number: int, stage_number: int, step_number: int) -> Step:
    repo = repo_for(owner, name, ROLE_READ)
    build = get_build(repo, number)
    for stage in build.stages:
        if stage.number == stage_number:
            for step in stage.steps:
                if step.number == step_number:
                    return step
    raise NotFound(f"{repo.slug} build {number} has no step {stage_number}/{step_number}")


@api_bp.get("/repos/<owner>/<name>/builds/<int:number>/logs/<int:stage>/<int:step>")
def raw_log(owner: str, name: str, number: int, stage: int, step: int) -> ResponseReturnValue:
    return raw_log_response(_step(owner, name, number, stage, step))


def _event(seq: int, lines: list[str], elapsed_ms: int | None) -> str:
    data = "".join(f"data: {line}\n" for line in lines) or "data: \n"
    elapsed = "" if elapsed_ms is None else f"elapsed: {elapsed_ms}\n"
    return f"id: {seq}\n{elapsed}{data}\n"


def _stored(services: Services, step_id: int, after: int) -> Iterator[tuple[int, str]]:
    """Stored chunks of the step after ``after``, page by page, as SSE events with their seq."""
    for seq, data, elapsed in services.stores.logs.iter_timed(step_id, after):
        yield seq, _event(seq, split_lines(data), elapsed)


def _finished(services: Services, step_id: int) -> bool:
    try:
        status: str = services.stores.steps.get(step_id).status
        return status in DONE_STATUSES
    except NotFound:
        return True


def _viewer() -> str:
    """Who holds the stream, for the per-user limit: the user, else the client's address."""
    user = identify().user
    return f"user:{user.id}" if user is not None else f"addr:{request.remote_addr}"


@api_bp.get("/repos/<owner>/<name>/builds/<int:number>/logs/<int:stage>/<int:step>/stream")
def stream_log(owner: str, name: str, number: int, stage: int, step: int) -> ResponseReturnValue:
    found = _step(owner, name, number, stage, step)
    raw_after = request.headers.get("Last-Event-ID") or request.args.get("after") or "-1"
    after = chunk_number(raw_after.strip(), "Last-Event-ID")
    services = current_services()
    ticket = services.admission.streams.enter(_viewer())
    try:
        # Subscribe before reading the store, so no chunk published in between is missed.
        subscription = services.livelog.subscribe(found.id, after, timeout=KEEPALIVE_SECONDS)
    except BaseException:
        ticket.release()
        raise
    try:
        # The first page is read before answering: a log bucket that does not answer is a
        # 503 with Retry-After, not a stream cut short.
        stored = _stored(services, found.id, after)
        first = next(stored, None)
    except BaseException:
        subscription.close()
        ticket.release()
        raise

    def generate() -> Iterator[str]:
        last = after
        with ticket, subscription:
            yield "retry: 2000\n\n"
            for seq, event in itertools.chain([first] if first else [], stored):
                yield event
                last = seq
            if not _finished(services, found.id):
                for item in subscription:
                    if item is None:
                        if _finished(services, found.id):
                            break
                        yield ": keep-alive\n\n"
                        continue
                    seq, lines, elapsed = item
                    if seq <= last:
                        continue
                    if seq > last + 1:
                        # Chunks the live fan-out dropped for this slow reader: from the store.
                        for old_seq, event in _stored(services, found.id, last):
                            if old_seq >= seq:
                                break
                            yield event
                    yield _event(seq, lines, elapsed)
                    last = seq
            # The step ended: whatever was stored after the last chunk sent, then the end.
            for seq, event in _stored(services, found.id, last):
                yield event
                last = seq
            yield "event: end\ndata: \n\n"

    headers = {
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    }
    response = Response(
        stream_with_context(generate()), mimetype="text/event-stream", headers=headers
    )
    # A stream closed before its first chunk never runs the generator's cleanup.
    response.call_on_close(ticket.release)
    response.call_on_close(subscription.close)
    return response


# Search and line ranges: the page's way to reach lines it does not hold (a hit, a deep link).
SEARCH_QUERY_CHARS = 200
SEARCH_LIMIT = 1000  # matching lines one answer lists at most
SEARCH_SCAN_BYTES = 32 * 1024 * 1024  # log read by one search pass at most
LINES_COUNT = 1000  # lines one range answer holds at most


@api_bp.get("/repos/<owner>/<name>/builds/<int:number>/logs/<int:stage>/<int:step>/search")
def search_log(owner: str, name: str, number: int, stage: int, step: int) -> ResponseReturnValue:
    """Lines of the whole stored log holding ``q`` (any case, escapes ignored), after line
    ``after``: the first ``limit`` with an excerpt, how many in the part searched, and where
    the next pass starts when one pass did not reach the end."""
    found = _step(owner, name, number, stage, step)
    query = request.args.get("q", "")
    if not query.strip():
        raise BadRequest("q (the text to search for) must not be empty")
    if len(query) > SEARCH_QUERY_CHARS:
        raise BadRequest(f"q must be at most {SEARCH_QUERY_CHARS} characters, not {len(query)}")
    after = whole_number(request.args.get("after", "0"), "after (a line number)")
    limit = whole_number(request.args.get("limit", "100"), "limit", low=1, high=SEARCH_LIMIT)
    result = current_services().stores.logs.search(
        found.id, query, after=after, limit=limit, max_bytes=SEARCH_SCAN_BYTES
    )
    return jsonify(
        query=query,
        after=after,
        lines=[
            {"line": m.line, "text": m.text, "elapsed_ms": m.elapsed_ms} for m in result.matches
        ],
        count=result.count,
        scanned_to=result.scanned_to,
        complete=result.complete,
        next=None if result.complete else result.scanned_to,
    )


@api_bp.get("/repos/<owner>/<name>/builds/<int:number>/logs/<int:stage>/<int:step>/lines")
def log_lines(owner: str, name: str, number: int, stage: int, step: int) -> ResponseReturnValue:
    """``count`` lines of the stored log from line ``from`` on (numbered as the tail and the
    stream number them), within the server's ``log_view_bytes`` of text, with their times as
    ``[line, ms]`` marks (see docs/api.md)."""
    found = _step(owner, name, number, stage, step)
    first = whole_number(request.args.get("from", "1"), "from (a line number)", low=1)
    count = whole_number(request.args.get("count", "200"), "count", low=1, high=LINES_COUNT)
    services = current_services()
    got = services.stores.logs.lines(
        found.id, first, count, max_chars=services.settings.log_view_bytes
    )
    return jsonify(
        first_line=got.first_line,
        lines=got.lines,
        more=got.more,
        cut=got.cut,
        times=got.times,
        cut_bytes=found.log_cut_bytes,
    )
