"""The event log: a repository's (read role on it) and the server's (server admins).

- ``GET /repos/<o>/<n>/events``: the repository's entries, newest first; those about
  secrets, registries, roles, the webhook secret and settings only for its admins
  (``runner.services.events.kinds_for``).
- ``GET /events``: every entry of the server, newest first; ``?repo=owner/name`` narrows it
  to one repository's.

Both take ``kind`` (exact, or a prefix ending with ``.``), ``actor``, ``since``, ``until``,
``before`` (an entry id: the next page) and ``limit`` (``runner.services.events.read_filter``)
and answer ``[{id, kind, repo, subject, message, actor, created}]``.
"""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from runner.core import ROLE_READ
from runner.errors import NotFound
from runner.server.api import api_bp
from runner.server.api.common import repo_for
from runner.server.auth import require_admin, require_user, role_of
from runner.server.services import current_services
from runner.services import events as event_log


def _answer(events: list[event_log.AuditEvent]) -> ResponseReturnValue:
    slugs = event_log.slugs_of(current_services().stores, events)
    return jsonify([event_log.as_json(e, slugs) for e in events])


@api_bp.get("/repos/<owner>/<name>/events")
def repo_events(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_READ)
    role = role_of(require_user(), repo)
    wanted, limit = event_log.read_filter(request.args)
    return _answer(event_log.events_of(current_services().stores, repo, wanted, limit, role=role))


@api_bp.get("/events")
def server_events() -> ResponseReturnValue:
    require_admin()
    stores = current_services().stores
    wanted, limit = event_log.read_filter(request.args)
    slug = (request.args.get("repo") or "").strip()
    repo = stores.repos.find(slug) if slug else None
    if slug and repo is None:
        raise NotFound(f"no repository {slug}")
    return _answer(event_log.server_events(stores, wanted, limit, repo))
