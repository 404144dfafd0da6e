"""The webhook endpoint: ``POST /hook/<owner>/<name>`` (GitLab subgroups: more path parts).

Order of checks, each answered as JSON with a reason: more than ``hook_rate_rejected`` refused
requests a minute from this client address → 429 with ``Retry-After``, before the body is read;
body larger than ``settings.max_body_bytes`` → 413; unknown or inactive repository → 404;
``X-Runner-Signature`` (the generic webhook, for any repository) on a repository that has not
enabled it → 403; signature or token wrong → 401 (otherwise the repository's forge decides).
Each of these refusals spends a token of its address's bucket; a signed delivery spends none.
Then more than ``hook_rate_global`` signed deliveries a minute on this server, or more than
``hook_rate_per_repo`` for this repository → 429; body not what
the forge documents (the schemas of ``runner.forges``) → 400; an event that asks for no build
(deleted ref, closed pull request, ``[skip ci]``, no matching pipeline) → 200 with
``"status": "ignored"``; a ``target`` environment that does not exist → 400, or whose
branch/tag/event rules the event does not meet → 403; a delivery id or a signed body seen
before → 200 with ``"status": "duplicate"`` and the build it made; otherwise the build is
created → 201 with ``"status": "created"``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from runner.core import Build, Repo
from runner.environments import environment_applies
from runner.errors import BadRequest, Forbidden, NotFound, RunnerError
from runner.forges import GENERIC, Forge, get_forge
from runner.pipeline.spec import BuildContext
from runner.server.ratelimit import RateLimiter
from runner.server.services import Services, current_services
from runner.server.trigger import BuildSkipped

log = logging.getLogger(__name__)

hooks_bp = Blueprint("hooks", __name__)

READ_CHUNK = 64 * 1024
# What a delivery id may be: forges send UUIDs or hex; the column holds 200 characters.
DELIVERY_ID = re.compile(r"[\x21-\x7e]{1,200}")
# A path that could name a repository at all (no control characters, a sane length): anything
# else is not looked up, as no database needs to see it.
SLUG = re.compile(r"[^\x00-\x1f\x7f]{3,255}")


class BodyTooLarge(RunnerError):
    http_status = 413


@hooks_bp.post("/hook/<path:slug>")
def receive(slug: str) -> ResponseReturnValue:
    """Verify, parse and turn one webhook delivery into a build (see the module docstring).

    ``slug`` is ``owner/name``, or ``group/subgroup/name`` for GitLab's nested groups.
    """
    services = current_services()
    settings = services.settings
    limiter = _limiter(services)
    # Strangers' junk is bounded per address, and only refusals count, so that no amount of
    # it can spend the budgets of signed deliveries below.
    address = f"rejected:{request.remote_addr or '?'}"
    wait = limiter.wait(address, settings.hook_rate_rejected)
    if wait:
        return _too_many(
            f"more than {settings.hook_rate_rejected} refused webhooks a minute from your address",
            wait,
        )
    slug = slug.strip("/")
    try:
        body, repo, forge = _authenticate(services, slug)
    except RunnerError:
        limiter.take(address, settings.hook_rate_rejected)
        raise
    wait = limiter.take("all", settings.hook_rate_global)
    if wait:
        return _too_many(f"more than {settings.hook_rate_global} webhooks a minute", wait)
    wait = limiter.take(f"repo:{repo.id}", settings.hook_rate_per_repo)
    if wait:
        return _too_many(
            f"more than {settings.hook_rate_per_repo} webhooks a minute for {slug}", wait
        )
    event, reason = forge.parse_with_reason(request.headers, body)
    if event is None:
        return _answer("ignored", reason)
    if event.target:
        _check_target(services, repo, event)
    body_hash = hashlib.sha256(body).hexdigest()
    delivery = _delivery_id(event) or f"sha256:{body_hash}"
    deliveries = services.stores.hook_deliveries
    if not deliveries.record(repo.id, delivery, body_hash):
        return _duplicate(services, repo, delivery, body_hash)
    try:
        build = services.triggerer.trigger(repo, event)
    except BuildSkipped as skipped:
        return _answer("ignored", str(skipped))
    except Exception:
        # Nothing was built: let the forge's redelivery try again.
        deliveries.forget(repo.id, delivery)
        raise
    deliveries.set_build(repo.id, delivery, build.id)
    log.info("webhook for %s (%s %s) made build #%s", slug, event.event, event.ref, build.number)
    return _created(services, slug, build)


def _authenticate(services: Services, slug: str) -> tuple[bytes, Repo, Forge]:
    """The body, repository and forge of a delivery whose signature is right; raises the
    refusal (413, 404, 403, 401) otherwise."""
    body = _read_body(services.settings.max_body_bytes)
    repo = services.stores.repos.find(slug) if SLUG.fullmatch(slug) else None
    if repo is None or not repo.active:
        raise NotFound(
            f"repository {slug} is not active on this server; activate it with "
            f"`runner repo add {slug}`"
        )
    # The generic webhook is a switch of the repository, whatever its forge: known by its header.
    forge: Forge
    if GENERIC.signed(request.headers):
        if not repo.generic_hook:
            raise Forbidden(
                f"the generic webhook is off for {slug}; a repository admin turns it on with "
                f"`runner repo update {slug} --generic-hook` or PATCH generic_hook=true"
            )
        forge = GENERIC
    else:
        forge = get_forge(repo.forge)
    forge.verify(request.headers, body, repo.webhook_secret)
    return body, repo, forge


def _limiter(services: Services) -> RateLimiter:
    limiter: RateLimiter | None = services.extras.get("hook_limiter")
    if limiter is None:
        limiter = services.extras.setdefault("hook_limiter", RateLimiter())
    return limiter


def _too_many(reason: str, wait: int) -> ResponseReturnValue:
    body = {"error": f"{reason}; try again in {wait} s (see hook_rate_* in the settings)"}
    return jsonify(body), 429, {"Retry-After": str(wait)}


def _delivery_id(event: BuildContext) -> str:
    delivery = event.delivery_id
    if delivery and not DELIVERY_ID.fullmatch(delivery):
        raise BadRequest(
            "the delivery id must be 1 to 200 printable ASCII characters without spaces"
        )
    return delivery


def _check_target(services: Services, repo: Repo, event: BuildContext) -> None:
    """A webhook may name its deploy environment only within that environment's rules: the
    same branch/tag/event patterns that choose it for a build that names none."""
    env = services.stores.environments.find(repo.id, event.target)
    if env is None:
        raise BadRequest(
            f"{repo.slug} has no environment {event.target[:63]!r}; create it first "
            "(`runner env add`)"
        )
    if not environment_applies(env, event=event.event, branch=event.branch, tag=event.tag):
        what = f"tag {event.tag!r}" if event.tag else f"branch {event.branch!r}"
        raise Forbidden(
            f"environment {env.name} does not take a {event.event} build of {what}: its rules "
            f"are branches {env.branches or 'any'}, tags {env.tags or 'none'}, events "
            f"{env.events or 'the defaults'}"
        )


def _duplicate(
    services: Services, repo: Repo, delivery: str, body_hash: str
) -> ResponseReturnValue:
    seen = services.stores.hook_deliveries.earlier(repo.id, delivery, body_hash)
    build_id = seen.build_id if seen else None
    number = services.stores.builds.header(build_id).number if build_id else None
    if seen is None or seen.delivery_id == delivery:
        reason = f"delivery {delivery} was received before"
    else:
        reason = (
            f"the same signed body was received before as delivery {seen.delivery_id}; "
            "a new build needs a new body (the generic webhook: a new 'delivery' field)"
        )
    return _answer("duplicate", reason, build=number)


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


def _answer(status: str, reason: str, **extra: Any) -> ResponseReturnValue:
    return jsonify({"status": status, "reason": reason, **extra}), 200


def _created(services: Services, slug: str, build: Build) -> ResponseReturnValue:
    url = f"{services.settings.effective_server_url()}/repos/{slug}/{build.number}"
    made: dict[str, Any] = {
        "id": build.id,
        "number": build.number,
        "status": build.status,
        "event": build.event,
        "commit": build.commit,
        "url": url,
    }
    if build.error:
        made["error"] = build.error
    return jsonify({"status": "created", "build": made}), 201
