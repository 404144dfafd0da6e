"""A repository's roles page: the users with a role on it (read, write, admin), giving a user a
role and taking it away.

The page needs the admin role on the repository. The changes are
``runner.services.repos.set_role`` / ``revoke_role``, the actions behind the API's
``PUT``/``DELETE /repos/<o>/<n>/perms/<login>``, so they are audited alike. An unknown user or
role answers 400 with the form and the message next to the field.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN, ROLES, Repo
from runner.errors import NotFound
from runner.services import repos as repo_actions
from webui import data, webui_bp
from webui.forms import Form
from webui.session_auth import login_required, signed_in_user
from webui.views_builds import repo_or_404


def _roles_page(repo: Repo, form: Form | None = None) -> tuple[str, int]:
    """The page; 400 with ``form``'s errors when given."""
    return (
        render_template(
            "settings_roles.html",
            repo=repo,
            errors=form.errors if form else {},
            values=form.source if form else {},
            can_admin=True,
            roles=ROLES,
            members=data.stores().users.members(repo.id),
        ),
        400 if form else 200,
    )


@webui_bp.route("/repos/<owner>/<name>/settings/roles", methods=["GET", "POST"])
@login_required
def settings_roles(owner: str, name: str) -> ResponseReturnValue:
    """The users with a role on the repository; the form gives a user a role, replacing the one
    they had."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    if request.method != "POST":
        return _roles_page(repo)
    form = Form()
    login = form.text("login", required=True, max_len=200, message="Enter the user's login.")
    role = form.text("role", required=True, message="Pick a role.")
    if role and role not in ROLES:
        form.errors["role"] = f"Pick one of {', '.join(ROLES)}."
    if form.ok:
        try:
            repo_actions.set_role(data.stores(), signed_in_user(), repo, login, role)
        except NotFound:
            form.errors["login"] = f"There is no user {login}."
    if not form.ok:
        return _roles_page(repo, form)
    flash(f"{login} is {role} on {repo.slug}.")
    return redirect(url_for("webui.settings_roles", owner=repo.owner, name=repo.name))


@webui_bp.route("/repos/<owner>/<name>/settings/roles/remove", methods=["POST"])
@login_required
def settings_role_remove(owner: str, name: str) -> ResponseReturnValue:
    """Take one user's role on the repository away."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    login = request.form.get("login", "")
    try:
        repo_actions.revoke_role(data.stores(), signed_in_user(), repo, login)
        flash(f"{login} has no role on {repo.slug}.")
    except NotFound:
        flash(f"There is no user {login}.")
    return redirect(url_for("webui.settings_roles", owner=repo.owner, name=repo.name))
