"""The "New build" form: a ``custom`` build of a branch, tag or commit with parameters.

Parameters are written one ``NAME=value`` per line and reach the steps as environment
variables; the form checks them with ``runner.services.builds.check_params`` (the API's rule)
and starts the build through ``runner.services.builds.trigger``, as ``POST
/api/v1/repos/<o>/<n>/builds`` does. Write role on the repository; a bad value answers 400
with the form and the message next to its field.
"""

from __future__ import annotations

import re

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN, ROLE_WRITE, Repo
from runner.errors import BadRequest, NotFound
from runner.server.services import current_services
from runner.server.trigger import BuildSkipped
from runner.services import builds as build_actions
from webui import webui_bp
from webui.forms import Form
from webui.session_auth import can, login_required, signed_in_user
from webui.views_builds import repo_or_404
from webui.views_settings import sentence

REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./+@-]*$")
REF_HELP = "Enter a branch or tag name, like main or v1.2.0."
COMMIT = re.compile(r"^[0-9a-fA-F]{4,64}$")
# The textarea is bounded before it is split: the parameters' own limits times a line each.
MAX_PARAMS_TEXT = build_actions.MAX_PARAMS * (
    build_actions.MAX_PARAM_NAME + build_actions.MAX_PARAM_VALUE + 2
)


def parse_params(text: str) -> dict[str, str]:
    """``NAME=value`` lines as parameters (blank lines skipped, the value taken as written
    after the first ``=``), checked by ``check_params``; ``BadRequest`` naming the line."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise BadRequest(f"line {number}: write NAME=value")
        name = name.strip()
        if name in out:
            raise BadRequest(f"line {number}: {name[:40]} is given twice")
        try:
            build_actions.check_params({name: value})
        except BadRequest as exc:
            raise BadRequest(f"line {number}: {exc}") from None
        out[name] = value
    return build_actions.check_params(out)


def _page(repo: Repo, form: Form | None = None, status: int = 200) -> tuple[str, int]:
    values = form.source if form else {"branch": repo.default_branch}
    return (
        render_template(
            "new_build.html",
            repo=repo,
            errors=form.errors if form else {},
            values=values,
            can_admin=can(repo, ROLE_ADMIN),
            max_params=build_actions.MAX_PARAMS,
        ),
        status,
    )


@webui_bp.route("/repos/<owner>/<name>/new", methods=["GET", "POST"])
@login_required
def new_build(owner: str, name: str) -> ResponseReturnValue:
    """The form (GET) and the build it starts (POST), then the new build's page."""
    repo = repo_or_404(owner, name, ROLE_WRITE)
    if request.method != "POST":
        return _page(repo)
    form = Form()
    branch = form.text("branch", max_len=200, pattern=REF, message=REF_HELP)
    tag = form.text("tag", max_len=200, pattern=REF, message=REF_HELP)
    commit = form.text(
        "commit",
        max_len=64,
        pattern=COMMIT,
        message="Enter a commit id (4 to 64 hexadecimal digits), or leave it empty for the tip.",
    )
    if branch and tag:
        form.errors["tag"] = "Name a branch or a tag, not both."
    text = form.source.get("params") or ""
    params: dict[str, str] = {}
    if len(text) > MAX_PARAMS_TEXT:
        form.errors["params"] = f"At most {build_actions.MAX_PARAMS} parameters."
    else:
        params = form.checked("params", parse_params) if text.strip() else {}
    if not form.ok:
        return _page(repo, form, 400)
    try:
        build = build_actions.trigger(
            current_services(),
            repo,
            signed_in_user(),
            branch=branch,
            tag=tag,
            commit=commit,
            params=params,
        )
    except NotFound as exc:
        field = "commit" if commit else ("tag" if tag else "branch")
        form.errors[field] = sentence(exc)
        return _page(repo, form, 400)
    except BuildSkipped as exc:
        form.errors["branch"] = sentence(exc)
        return _page(repo, form, 422)
    flash(f"Build #{build.number} started.")
    return redirect(url_for("webui.build", owner=owner, name=name, number=build.number))
