"""Step logs: raw download and the live Server-Sent Events stream.

The stream sends each stored or live chunk as one event whose ``id`` is the chunk's sequence
number and whose ``data`` lines are the log lines, so a client reconnecting with
``Last-Event-ID`` resumes right after the last chunk it saw. Comment lines keep idle
connections open; an ``end`` event closes the stream once the step is finished and every chunk
was sent.
"""

from __future__ import annotations

from flask import Response, request, stream_with_context

from runner.core import DONE_STATUSES, ROLE_READ, Step
from runner.errors import NotFound
from runner.server.api import api_bp
from runner.server.api.common import get_build, repo_for, whole_number
from runner.server.services import current_services

KEEPALIVE_SECONDS = 10.0


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
def raw_log(owner: str, name: str, number: int, stage: int, step: int):
    found = _step(owner, name, number, stage, step)
    stores = current_services().stores
    headers = {"X-Log-Cut-Bytes": str(found.log_cut_bytes)}
    chunks = stores.logs.iter_raw(found.id)
    return Response(stream_with_context(chunks), mimetype="text/plain", headers=headers)


def _event(seq: int, lines: list[str]) -> str:
    data = "".join(f"data: {line}\n" for line in lines) or "data: \n"
    return f"id: {seq}\n{data}\n"


def _stored(services, step_id: int, after: int):
    """Stored chunks of the step after ``after``, page by page, as SSE events with their seq."""
    while True:
        page = services.stores.logs.read(step_id, after=after, limit=200)
        for seq, data in page:
            yield seq, _event(seq, data.decode("utf-8", "replace").splitlines())
            after = seq
        if len(page) < 200:
            return


def _finished(services, step_id: int) -> bool:
    try:
        return services.stores.steps.get(step_id).status in DONE_STATUSES
    except NotFound:
        return True


@api_bp.get("/repos/<owner>/<name>/builds/<int:number>/logs/<int:stage>/<int:step>/stream")
def stream_log(owner: str, name: str, number: int, stage: int, step: int):
    found = _step(owner, name, number, stage, step)
    raw_after = request.headers.get("Last-Event-ID") or request.args.get("after") or "-1"
    after = whole_number(raw_after, "Last-Event-ID (a chunk number)", low=-1)
    services = current_services()
    # Subscribe before reading the store, so no chunk published in between is missed.
    subscription = services.livelog.subscribe(found.id, after, timeout=KEEPALIVE_SECONDS)

    def generate():
        last = after
        with subscription:
            yield "retry: 2000\n\n"
            for seq, event in _stored(services, found.id, last):
                yield event
                last = seq
            if not _finished(services, found.id):
                for item in subscription:
                    if item is None:
                        if _finished(services, found.id):
                            break
                        yield ": keep-alive\n\n"
                        continue
                    seq, lines = item
                    if seq <= last:
                        continue
                    if seq > last + 1:
                        # Chunks the live fan-out dropped for this slow reader: from the store.
                        for old_seq, event in _stored(services, found.id, last):
                            if old_seq >= seq:
                                break
                            yield event
                    yield _event(seq, lines)
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
    return Response(stream_with_context(generate()), mimetype="text/event-stream", headers=headers)
