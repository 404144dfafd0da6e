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
from runner.errors import BadRequest, NotFound
from runner.server.api import api_bp
from runner.server.api.common import get_build, repo_for
from runner.server.services import current_services

KEEPALIVE_SECONDS = 15.0


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


@api_bp.get("/repos/<owner>/<name>/builds/<int:number>/logs/<int:stage>/<int:step>/stream")
def stream_log(owner: str, name: str, number: int, stage: int, step: int):
    found = _step(owner, name, number, stage, step)
    raw_after = request.headers.get("Last-Event-ID") or request.args.get("after") or "-1"
    try:
        after = int(raw_after)
    except ValueError:
        raise BadRequest(f"Last-Event-ID must be a chunk number, not {raw_after!r}") from None
    services = current_services()

    def generate():
        last = after
        subscription = services.livelog.subscribe(found.id, last, timeout=KEEPALIVE_SECONDS)
        try:
            yield "retry: 2000\n\n"
            for seq, data in services.stores.logs.read(found.id, after=last):
                yield _event(seq, data.decode("utf-8", "replace").splitlines())
                last = seq
            for item in subscription:
                if item is None:
                    step_now = services.stores.steps.get(found.id)
                    if step_now is None or step_now.status in DONE_STATUSES:
                        for seq, data in services.stores.logs.read(found.id, after=last):
                            yield _event(seq, data.decode("utf-8", "replace").splitlines())
                            last = seq
                        yield "event: end\ndata: \n\n"
                        return
                    yield ": keep-alive\n\n"
                    continue
                seq, lines = item
                if seq <= last:
                    continue
                if seq > last + 1:
                    # Chunks the live fan-out dropped for a slow reader come from the store.
                    for old_seq, data in services.stores.logs.read(found.id, after=last):
                        if old_seq >= seq:
                            break
                        yield _event(old_seq, data.decode("utf-8", "replace").splitlines())
                yield _event(seq, lines)
                last = seq
        finally:
            close = getattr(subscription, "close", None)
            if close is not None:
                close()

    headers = {
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
        "Connection": "keep-alive",
    }
    return Response(stream_with_context(generate()), mimetype="text/event-stream", headers=headers)
