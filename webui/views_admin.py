"""Admin pages: agents (registration, announced labels, running stages, last contact, changes
and their history, revoke) and users/tokens. The changes are the actions of
``runner.services.agents`` and ``runner.services.users``, as for the API."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner import labels as label_rules
from runner.core import TOKEN_AGENT, Token
from runner.errors import BadRequest, NotFound
from runner.services import agents as agent_rules
from runner.services import users as user_actions
from webui import data, webui_bp
from webui.forms import Form
from webui.session_auth import admin_required, signed_in_user


@webui_bp.route("/admin/agents")
@admin_required
def admin_agents() -> ResponseReturnValue:
    """Every registered agent with its registration (labels, capacity, scope), what it last
    announced, its load and last contact; a form to change each registration; the history."""
    return _agents_page()


def _agents_page(errors: dict[str | int, str] | None = None, status: int = 200) -> tuple[str, int]:
    stores = data.stores()
    agents = stores.agents.all_agents()
    tokens = [t for t in stores.tokens.matching(kind=TOKEN_AGENT) if not t.revoked]
    live = {t.agent_id for t in tokens}
    running = {a.id: stores.stages.running_for(a.id) for a in agents}
    builds = {st.build_id for stages in running.values() for st in stages}
    # A running stage is named by its build as people know it (acme/web #12), not its row id.
    build_of = {build_id: _build_ref(stores, build_id) for build_id in builds}
    beyond = {a.id: label_rules.beyond(a.labels, a.declared_labels) for a in agents}
    page = render_template(
        "admin_agents.html",
        agents=agents,
        has_token=live,
        running=running,
        build_of=build_of,
        beyond=beyond,
        history=[
            (e, _agent_change(e))
            for e in stores.audit.matching(limit=50)
            if e.subject.startswith("agent:")
        ],
        errors=errors or {},
    )
    return page, status


def _agent_change(entry: Any) -> str:
    """What an agent's history entry says, without the agent's name (its own column) or the
    kind said twice: "registered: labels env=staging", "new token", "tokens revoked"."""
    name = entry.subject.removeprefix("agent:")
    text = str(entry.message).removeprefix(f"agent {name}").lstrip(":").strip()
    return text or str(entry.kind).removeprefix("agent.")


def _build_ref(stores: Any, build_id: int) -> tuple[str, str, int]:
    """(owner, name, number) of a build, for a link to its page."""
    build = stores.builds.header(build_id)
    repo = stores.repos.get(build.repo_id)
    return repo.owner, repo.name, build.number


@webui_bp.route("/admin/agents", methods=["POST"])
@admin_required
def admin_agent_register() -> ResponseReturnValue:
    """Register an agent with its labels, capacity and scope; show its token once. For an
    agent that exists, the fields filled in change its registration, the empty ones keep it."""
    form = {"name": request.form.get("name", ""), **_registration_form()}
    try:
        agent, plain = agent_rules.register_with_token(
            data.stores(), form, actor=signed_in_user().login
        )
    except BadRequest as exc:
        return _agents_page({"new": str(exc)}, 400)
    page = render_template("admin_agent_token.html", agent=agent, plain=plain)
    return page, 200, {"Cache-Control": "no-store"}


def _registration_form() -> dict[str, str]:
    return {key: request.form[key] for key in agent_rules.REGISTERED if key in request.form}


@webui_bp.route("/admin/agents/<int:agent_id>", methods=["POST"])
@admin_required
def admin_agent_change(agent_id: int) -> ResponseReturnValue:
    """Change an agent's registered labels, capacity and scope (recorded with who did it)."""
    stores = data.stores()
    agent = stores.agents.get(agent_id)
    try:
        agent_rules.change_registration(
            stores, agent, _registration_form(), actor=signed_in_user().login
        )
    except BadRequest as exc:
        return _agents_page({agent.id: str(exc)}, 400)
    flash(f"Agent {agent.name} changed.")
    return redirect(url_for("webui.admin_agents"))


@webui_bp.route("/admin/agents/<int:agent_id>/revoke", methods=["POST"])
@admin_required
def admin_agent_revoke(agent_id: int) -> ResponseReturnValue:
    """Revoke every token of an agent: its next call is refused."""
    stores = data.stores()
    agent_rules.revoke_agent(stores, stores.agents.get(agent_id), actor=signed_in_user().login)
    flash("The agent's tokens are revoked.")
    return redirect(url_for("webui.admin_agents"))


@webui_bp.route("/admin/users", methods=["GET", "POST"])
@admin_required
def admin_users() -> ResponseReturnValue:
    """Local accounts and their API tokens; create a user."""
    stores = data.stores()
    form = Form()
    status = 200
    if request.method == "POST":
        login = form.checked("login", user_actions.check_login)
        password = request.form.get("password", "")
        is_admin = form.flag("is_admin")
        form.checked(
            "password", lambda _v: user_actions.check_password_rule(password, is_admin=is_admin)
        )
        if form.ok and stores.users.find(login) is not None:
            form.errors["login"] = f"There is already a user {login}."
        if form.ok:
            user_actions.create_user(
                stores, login, password, is_admin=is_admin, actor=signed_in_user().login
            )
            flash(f"User {login} created.")
            return redirect(url_for("webui.admin_users"))
        status = 400
    users = stores.users.all_users()
    tokens: dict[int | None, list[Token]] = {}
    for token in stores.tokens.matching(kind="user"):
        tokens.setdefault(token.user_id, []).append(token)
    return (
        render_template(
            "admin_users.html",
            users=users,
            tokens=tokens,
            errors=form.errors,
            values=form.source,
            me=signed_in_user(),
        ),
        status,
    )


@webui_bp.route("/admin/users/<int:user_id>/tokens", methods=["POST"])
@admin_required
def admin_token_create(user_id: int) -> ResponseReturnValue:
    """Create an API token for a user and show it once (it is stored hashed)."""
    stores = data.stores()
    user = stores.users.get(user_id)
    form = Form()
    name = form.text("name", required=True, max_len=100, message="Name the token, e.g. deploy-bot.")
    if not form.ok:
        flash(f"Token not created: {form.errors['name']}", "error")
        return redirect(url_for("webui.admin_users"))
    _token, plain = user_actions.create_token(stores, user, name, actor=signed_in_user().login)
    page = render_template("admin_token.html", owner=user, name=name, plain=plain)
    return page, 200, {"Cache-Control": "no-store"}


@webui_bp.route("/admin/tokens/<int:token_id>/revoke", methods=["POST"])
@admin_required
def admin_token_revoke(token_id: int) -> ResponseReturnValue:
    """Revoke one user token."""
    try:
        user_actions.revoke_token(data.stores(), token_id, owner=None, actor=signed_in_user().login)
    except NotFound:
        flash(f"There is no user token {token_id}.", "error")
    else:
        flash("Token revoked.")
    return redirect(url_for("webui.admin_users"))
