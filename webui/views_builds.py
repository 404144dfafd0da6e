"""The repository list (last status per branch, badge) and a repository's build list."""

from __future__ import annotations

import hashlib
from typing import Any, TypedDict

from flask import Response, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN, ROLE_READ, ROLE_WRITE, Build, Repo
from runner.errors import NotFound
from runner.services import build_filters
from runner.services.build_filters import BuildFilter
from webui import (
    data,
    forge_links,  # noqa: F401  (the pages' template global forge_details)
    webui_bp,
)
from webui.session_auth import can, login_required, require, signed_in_user

STATUSES = ("pending", "running", "blocked", "success", "failure", "killed", "error", "declined")
EVENTS = ("push", "tag", "pull_request", "cron", "custom", "promote", "rollback")
PER_PAGE = 25


def repo_or_404(owner: str, name: str, role: str = ROLE_READ) -> Repo:
    """The repository after checking the page user's role; one they cannot read is not found."""
    repo = data.find_repo(owner, name)
    if repo is None:
        raise NotFound(f"no repository {owner}/{name}")
    require(repo, role)
    return repo


@webui_bp.route("/")
@login_required
def home() -> ResponseReturnValue:
    """Repositories the user can see, each with the last build's status per branch and, apart
    from them, per pull request (a pull request's result is not its base branch's)."""
    rows = []
    for repo in data.visible_repos(signed_in_user()):
        badge = url_for("webui.badge", owner=repo.owner, name=repo.name)
        rows.append(
            {
                "repo": repo,
                "branches": data.last_builds_per_branch(repo.id),
                "pull_requests": data.last_builds_per_pull_request(repo.id),
                "badge_url": badge,
                "badge_abs": request.host_url.rstrip("/") + badge,
                "repo_abs": url_for(
                    "webui.builds", owner=repo.owner, name=repo.name, _external=True
                ),
            }
        )
    return _with_etag(render_template("home.html", rows=rows))


def _with_etag(body: str) -> ResponseReturnValue:
    """``body`` with an ETag; 304 without it when the page already has it (``If-None-Match``),
    so a page refreshing its rows after a change costs no download when nothing it shows did."""
    tag = '"' + hashlib.sha1(body.encode()).hexdigest() + '"'
    if tag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers={"ETag": tag, "Cache-Control": "no-cache"})
    return body, 200, {"ETag": tag, "Cache-Control": "no-cache"}


class BuildFilters(TypedDict):
    """The build list's filters as the page shows them, "" where none is chosen."""

    branch: str
    status: str
    event: str
    pull_request: str


def _chosen() -> BuildFilter:
    """The filters of the query string (``runner.services.build_filters``); a bad branch or
    pull request number is a 400 naming it."""
    return build_filters.from_query(request.args, statuses=STATUSES, events=EVENTS)


def _shown(chosen: BuildFilter) -> BuildFilters:
    branch = chosen.branch or (chosen.branch_prefix + "*" if chosen.branch_prefix else "")
    return {
        "branch": branch,
        "status": chosen.status or "",
        "event": chosen.event or "",
        "pull_request": str(chosen.pull_request or ""),
    }


def _query(shown: BuildFilters) -> dict[str, Any]:
    """The chosen filters as query arguments, for the pager's and the poll's URLs."""
    values: dict[str, Any] = dict(shown)
    return {k: v for k, v in values.items() if v}


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def _rows(repo: Repo, chosen: BuildFilter, page: int) -> tuple[list[Build], bool]:
    return data.list_builds(repo.id, page=page, per_page=PER_PAGE, chosen=chosen)


@webui_bp.route("/repos/<owner>/<name>")
@login_required
def builds(owner: str, name: str) -> ResponseReturnValue:
    """A repository's builds, filtered by branch (or branch prefix), pull request, status and
    event, paged, refreshed live."""
    repo = repo_or_404(owner, name)
    chosen, page = _chosen(), _page()
    filters = _shown(chosen)
    found, has_more = _rows(repo, chosen, page)

    def page_url(n: int) -> str:
        return url_for("webui.builds", owner=owner, name=name, page=n, **_query(filters))

    return render_template(
        "builds.html",
        repo=repo,
        builds=found,
        has_more=has_more,
        page=page,
        filters=filters,
        statuses=STATUSES,
        events=EVENTS,
        page_url=page_url,
        can_admin=can(repo, ROLE_ADMIN),
        can_write=can(repo, ROLE_WRITE),
        poll_url=url_for("webui.builds_json", owner=owner, name=name, page=page, **_query(filters)),
    )


@webui_bp.route("/repos/<owner>/<name>/builds.json")
@login_required
def builds_json(owner: str, name: str) -> ResponseReturnValue:
    """The rows of one page, rendered, with an ETag (304 when the page has these rows)."""
    repo = repo_or_404(owner, name)
    found, _ = _rows(repo, _chosen(), _page())
    html = render_template("_build_rows.html", repo=repo, builds=found)
    signature = hashlib.sha1(html.encode()).hexdigest()
    tag = f'"{signature}"'
    if tag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers={"ETag": tag, "Cache-Control": "no-cache"})
    response = jsonify(html=html, signature=signature)
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = "no-cache"
    return response
