"""The webhook endpoint: ``POST /hook/<owner>/<name>`` (GitLab subgroups: more path parts).

Order of checks, each answered as JSON with a reason: body larger than
``settings.max_body_bytes`` → 413; unknown or inactive repository → 404; signature or token
wrong → 401 (``X-Runner-Signature`` selects the generic webhook for any repository, otherwise
the repository's forge decides); body not what the forge documents → 400; an event that asks
for no build (deleted ref, closed pull request, ``[skip ci]``, no matching pipeline) → 200 with
``"status": "ignored"``; a delivery id seen before → 200 with ``"status": "duplicate"`` and the
build it made; otherwise the build is created → 201 with ``"status": "created"``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from runner.core import Build
from runner.errors import NotFound, RunnerError
from runner.forges import generic, get_forge
from runner.forges.base import header
from runner.server.services import current_services
from runner.server.trigger import BuildSkipped

log = logging.getLogger(__name__)

hooks_bp = Blueprint("hooks", __name__)

READ_CHUNK = 64 * 1024


class BodyTooLarge(RunnerError):
    http_status = 413


@hooks_bp.post("/hook/<path:slug>")
def receive(slug: str):
    """Verify, parse and turn one webhook delivery into a build (see the module docstring).

    ``slug`` is ``owner/name``, or ``group/subgroup/name`` for GitLab's nested groups.
    """
    services = current_services()
    body = _read_body(services.settings.max_body_bytes)
    slug = slug.strip("/")
    repo = services.stores.repos.find(slug)
    if repo is None or not repo.active:
        raise NotFound(
            f"repository {slug} is not active on this server; activate it with "
            f"`runner repo add {slug}`"
        )
    forge = generic if header(request.headers, generic.SIGNATURE_HEADER) else get_forge(repo.forge)
    forge.verify(request.headers, body, repo.webhook_secret)
    event, reason = forge.parse_with_reason(request.headers, body)
    if event is None:
        return _answer("ignored", reason)
    deliveries = services.stores.hook_deliveries
    delivery = event.delivery_id
    if delivery and not deliveries.record(repo.id, delivery):
        seen = deliveries.get(repo.id, delivery)
        build_id = seen.build_id if seen else None
        number = services.stores.builds.header(build_id).number if build_id else None
        return _answer("duplicate", f"delivery {delivery} was received before", build=number)
    try:
        build = services.triggerer.trigger(repo, event)
    except BuildSkipped as skipped:
        return _answer("ignored", str(skipped))
    except Exception:
        if delivery:  # nothing was built: let the forge's redelivery try again
            deliveries.forget(repo.id, delivery)
        raise
    if delivery:
        deliveries.set_build(repo.id, delivery, build.id)
    log.info("webhook for %s (%s %s) made build #%s", slug, event.event, event.ref, build.number)
    return _created(services, slug, build)


def _read_body(limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading it all."""
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge(_too_large(limit))
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(_too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return (
        f"webhook body larger than {limit} bytes; raise max_body_bytes "
        "(RUNNER_MAX_BODY_BYTES) if the forge really sends that much"
    )


def _answer(status: str, reason: str, **extra):
    return jsonify({"status": status, "reason": reason, **extra}), 200


def _created(services, slug: str, build: Build):
    url = f"{services.settings.effective_server_url()}/repos/{slug}/{build.number}"
    body = {
        "status": "created",
        "build": {
            "id": build.id,
            "number": build.number,
            "status": build.status,
            "event": build.event,
            "commit": build.commit,
            "url": url,
        },
    }
    if build.error:
        body["build"]["error"] = build.error
    return jsonify(body), 201
