"""A repository's deployments page: what is live in each environment (with its build, commit,
image, since when, by whom, approved by whom, on which agent, its state and traffic share),
what is deploying, and the history below, newest first, paged by record id.

Read role, like the build list. The page reads ``runner.services.deployments``, as the API and
(through it) ``runner env status`` and ``runner deploy ls`` do.
"""

from __future__ import annotations

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN
from runner.services import deployments as deploy_views
from webui import data, webui_bp
from webui.session_auth import can, login_required
from webui.views_builds import repo_or_404

PER_PAGE = 25


@webui_bp.route("/repos/<owner>/<name>/deployments")
@login_required
def deployments(owner: str, name: str) -> ResponseReturnValue:
    """Live and deploying versions per environment, and the history (``?environment=`` for
    one environment, ``?before=ID`` for older records)."""
    repo = repo_or_404(owner, name)
    stores = data.stores()
    environment = request.args.get("environment", "").strip() or None
    history = deploy_views.list_deployments(
        stores,
        repo,
        environment=environment,
        limit=PER_PAGE + 1,
        before=request.args.get("before") or None,
    )
    older = None
    if len(history) > PER_PAGE:
        history = history[:PER_PAGE]
        older = url_for(
            "webui.deployments",
            owner=owner,
            name=name,
            environment=environment,
            before=history[-1].id,
        )
    return render_template(
        "deployments.html",
        repo=repo,
        statuses=deploy_views.environment_status(stores, repo),
        history=history,
        environment=environment or "",
        older_url=older,
        can_admin=can(repo, ROLE_ADMIN),
    )
