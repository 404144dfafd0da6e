"""The Events pages: a repository's event log (read role) and the server's (server admins).

A repository's page shows what the page user's role on it may see
(``runner.services.events.kinds_for``): readers and writers the entries of builds,
environments and crons, and a line saying the others are the admins'; admins every entry.

A table of time, actor, kind and message, newest first, with a GET form to filter by kind
(exact, or a prefix such as ``build.``) and actor, and a link to older entries. The filters
are ``runner.services.events.read_filter``'s, as in the API and ``runner events``; a bad one
answers 400 with the page and the reason.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN, Repo
from runner.errors import BadRequest
from runner.services import events as event_log
from webui import data, webui_bp
from webui.session_auth import admin_required, can, login_required, role
from webui.views_builds import repo_or_404

PAGE_SIZE = 50


def _events_page(repo: Repo | None, endpoint: str, **route: Any) -> ResponseReturnValue:
    stores = data.stores()
    given = {k: request.args.get(k, "").strip() for k in ("kind", "actor")}
    chosen: dict[str, Any] = {k: v for k, v in given.items() if v}
    before = request.args.get("before", "")
    error, entries = "", []
    try:
        wanted, _ = event_log.read_filter({**chosen, "before": before})
    except BadRequest as exc:
        error = str(exc)
    else:
        if repo is not None:
            entries = event_log.events_of(stores, repo, wanted, PAGE_SIZE + 1, role=role(repo))
        else:
            entries = event_log.server_events(stores, wanted, PAGE_SIZE + 1)
    older = ""
    if len(entries) > PAGE_SIZE:
        entries = entries[:PAGE_SIZE]
        older = url_for(endpoint, **route, **chosen, before=entries[-1].id)
    context: dict[str, Any] = {
        "repo": repo,
        "entries": entries,
        "slugs": event_log.slugs_of(stores, entries) if repo is None else {},
        "chosen": chosen,
        "error": error,
        "older": older,
        "newest": url_for(endpoint, **route, **chosen) if before else "",
        "can_admin": repo is not None and can(repo, ROLE_ADMIN),
    }
    return render_template("events.html", **context), 400 if error else 200


@webui_bp.route("/repos/<owner>/<name>/events")
@login_required
def repo_events(owner: str, name: str) -> ResponseReturnValue:
    """The repository's event log: who triggered, cancelled, approved, changed what, when."""
    repo = repo_or_404(owner, name)
    return _events_page(repo, "webui.repo_events", owner=owner, name=name)


@webui_bp.route("/admin/events")
@admin_required
def admin_events() -> ResponseReturnValue:
    """The server's event log: every repository's entries and the server's own."""
    return _events_page(None, "webui.admin_events")
