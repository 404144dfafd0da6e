"""Repository settings pages: repository, secrets and registries (write-only values and
passwords), environments, cron jobs.

Every page needs the admin role on the repository; the trusted flag only a server admin may
change. Invalid input answers 400 with the form and a message next to each bad field. The
changes are the actions of ``runner.services`` (the same as the API's), which record who made
them.
"""

from __future__ import annotations

import re
import time

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from runner.approval_rules import MAX_APPROVALS
from runner.core import ROLE_ADMIN, Repo
from runner.errors import BadRequest, Conflict, RunnerError
from runner.repo_rules import MAX_LOG_RETENTION_DAYS
from runner.server.services import current_services
from runner.services import crons as cron_actions
from runner.services import environments as env_actions
from runner.services import registries as registry_actions
from runner.services import repos as repo_actions
from runner.services import secrets as secret_actions
from webui import data, webui_bp
from webui.forms import Form
from webui.session_auth import login_required, signed_in_user
from webui.views_builds import EVENTS, repo_or_404

PATH_RE = re.compile(r"^[A-Za-z0-9_./*-]+$")


def render_settings(
    template: str, repo: Repo, form: Form | None = None, status: int = 200, **ctx: object
) -> tuple[str, int]:
    """A settings page of ``repo``: ``form``'s errors and submitted values when given, else
    the ``values`` of ``ctx`` (a record's, on an edit page) or none."""
    values = form.source if form else ctx.pop("values", {})
    return (
        render_template(
            template,
            repo=repo,
            errors=form.errors if form else {},
            values=values,
            can_admin=True,
            events=EVENTS,
            **ctx,
        ),
        status,
    )


def back_to(endpoint: str, repo: Repo) -> Response:
    """A redirect to the settings page ``endpoint`` of ``repo``."""
    return redirect(url_for(endpoint, owner=repo.owner, name=repo.name))


@webui_bp.route("/repos/<owner>/<name>/settings", methods=["GET", "POST"])
@login_required
def settings_repo(owner: str, name: str) -> ResponseReturnValue:
    """Timeout, log retention, pipeline path, forks' plugins, trusted flag (server admins),
    webhook URL and secret."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    settings = current_services().settings
    webhook_url = f"{settings.effective_server_url()}/hook/{repo.owner}/{repo.name}"
    days = settings.log_retention_days
    server_retention = f"{days} days" if days else ""
    if request.method == "POST":
        form = Form()
        timeout = form.integer("timeout", low=60, high=7 * 24 * 3600, default=repo.timeout)
        pipeline_path = form.text(
            "pipeline_path",
            pattern=PATH_RE,
            message="Use a path inside the repository, like .drone.yml or ci/pipeline.yml.",
        )
        fields: dict[str, object] = {
            "timeout": timeout,
            "log_retention_days": form.integer(
                "log_retention_days",
                low=0,
                high=MAX_LOG_RETENTION_DAYS,
                default=repo.log_retention_days,
            ),
            "pipeline_path": pipeline_path,
            "default_branch": form.text("default_branch", required=True, max_len=200)
            or repo.default_branch,
            "fork_privileged": form.flag("fork_privileged"),
        }
        if ".." in pipeline_path.split("/"):
            form.errors["pipeline_path"] = "The path must stay inside the repository (no ..)."
        if signed_in_user().is_admin:
            fields["trusted"] = form.flag("trusted")
        if not form.ok:
            return render_settings(
                "settings_repo.html",
                repo,
                form,
                400,
                webhook_url=webhook_url,
                server_retention=server_retention,
            )
        repo_actions.update_repo(data.stores(), signed_in_user(), repo, fields)
        flash("Settings saved.")
        return back_to("webui.settings_repo", repo)
    return render_settings(
        "settings_repo.html", repo, webhook_url=webhook_url, server_retention=server_retention
    )


@webui_bp.route("/repos/<owner>/<name>/settings/secrets", methods=["GET", "POST"])
@login_required
def settings_secrets(owner: str, name: str) -> ResponseReturnValue:
    """Secrets by name, scope and filters; a value can be set but is never shown again."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    if request.method == "POST":
        form = Form()
        secret_name = form.checked("name", secret_actions.check_name)
        value = request.form.get("value", "")
        if not value:
            form.errors["value"] = "Enter the secret's value (it will not be shown again)."
        events = request.form.getlist("events") or list(secret_actions.DEFAULT_EVENTS)
        if any(e not in EVENTS for e in events):
            form.errors["events"] = "Pick events from the list."
        if not form.ok:
            return _secrets_page(repo, form)
        options = {
            "events": events,
            "images": form.items("images"),
            "allow_pull_request": form.flag("allow_pull_request"),
            "environment": form.text("environment"),
            "substitute": form.flag("substitute"),
        }
        try:
            secret_actions.set_secret(
                data.stores(), repo, signed_in_user(), secret_name, value, options, mode="set"
            )
        except Conflict as exc:  # a name that differs only by case from one in use
            form.errors["name"] = sentence(exc)
            return _secrets_page(repo, form, 409)
        flash(f"Secret {secret_name} saved.")
        return back_to("webui.settings_secrets", repo)
    return _secrets_page(repo)


def _secrets_page(repo: Repo, form: Form | None = None, status: int = 400) -> tuple[str, int]:
    """The secrets page with the registries below; ``status`` (400) with ``form``'s errors
    when given."""
    stores = data.stores()
    return render_settings(
        "settings_secrets.html",
        repo,
        form,
        status if form else 200,
        secrets=stores.secrets.of_repo(repo.id),
        registries=stores.registries.of_repo(repo.id),
    )


@webui_bp.route("/repos/<owner>/<name>/settings/registries", methods=["POST"])
@login_required
def settings_registry_add(owner: str, name: str) -> ResponseReturnValue:
    """Add a registry (host, user, write-only password) or replace its credentials."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    form = Form()
    host = form.checked("hostname", registry_actions.check_hostname)
    username = form.text("username", required=True, max_len=300)
    password = request.form.get("password", "")
    if not password:
        form.errors["password"] = "Enter the password or token (it will not be shown again)."
    if not form.ok:
        return _secrets_page(repo, form)
    registry_actions.set_registry(data.stores(), repo, signed_in_user(), host, username, password)
    flash(f"Registry {host} saved.")
    return back_to("webui.settings_secrets", repo)


@webui_bp.route("/repos/<owner>/<name>/settings/registries/delete", methods=["POST"])
@login_required
def settings_registry_delete(owner: str, name: str) -> ResponseReturnValue:
    """Delete one registry of the repository."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    host = request.form.get("hostname", "")
    registry_actions.delete_registry(data.stores(), repo, signed_in_user(), host)
    flash(f"Registry {host} deleted.")
    return back_to("webui.settings_secrets", repo)


@webui_bp.route("/repos/<owner>/<name>/settings/secrets/<int:secret_id>/delete", methods=["POST"])
@login_required
def settings_secret_delete(owner: str, name: str, secret_id: int) -> ResponseReturnValue:
    """Delete one secret of the repository."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    secret = secret_actions.delete_secret_by_id(data.stores(), repo, signed_in_user(), secret_id)
    if secret is not None:
        flash(f"Secret {secret.name} deleted.")
    return back_to("webui.settings_secrets", repo)


@webui_bp.route("/repos/<owner>/<name>/settings/environments", methods=["GET", "POST"])
@login_required
def settings_envs(owner: str, name: str) -> ResponseReturnValue:
    """Environments: branch/tag/event patterns, agent labels, approval (its rules: how many
    approvers, four-eyes, rollbacks exempt) and deploy lock."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    envs = data.stores().environments
    if request.method == "POST":
        form = Form()
        env_name = form.text(
            "name", required=True, max_len=100, message="Name the environment, e.g. production."
        )
        fields = environment_fields(form)
        if not form.ok:
            return render_settings(
                "settings_envs.html", repo, form, 400, environments=envs.of_repo(repo.id)
            )
        try:
            env_actions.create_environment(data.stores(), repo, signed_in_user(), env_name, fields)
        except Conflict:
            form.errors["name"] = f"There is already an environment {env_name}."
        except BadRequest as exc:
            form.errors["name"] = sentence(exc)
        if not form.ok:
            return render_settings(
                "settings_envs.html", repo, form, 400, environments=envs.of_repo(repo.id)
            )
        flash(f"Environment {env_name} saved.")
        return back_to("webui.settings_envs", repo)
    return render_settings("settings_envs.html", repo, environments=envs.of_repo(repo.id))


def environment_fields(form: Form) -> dict[str, object]:
    """The declaration fields of the environment form (add and edit): patterns, labels,
    approval rules, lock; errors recorded in ``form``."""
    events = form.items("events")
    if any(e not in EVENTS for e in events):
        form.errors["events"] = "Events are among: " + ", ".join(EVENTS) + "."
    return {
        "branches": form.items("branches"),
        "tags": form.items("tags"),
        "events": events,
        "labels": form.labels("labels"),
        "approval": form.flag("approval_required"),
        "approvals_required": form.integer(
            "approvals_required", low=1, high=MAX_APPROVALS, default=1
        ),
        "four_eyes": form.flag("four_eyes"),
        "rollback_exempt": form.flag("rollback_exempt"),
        "lock": form.flag("lock"),
    }


@webui_bp.route("/repos/<owner>/<name>/settings/environments/<int:env_id>/delete", methods=["POST"])
@login_required
def settings_env_delete(owner: str, name: str, env_id: int) -> ResponseReturnValue:
    """Delete one environment of the repository."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    stores = data.stores()
    for env in stores.environments.of_repo(repo.id):
        if env.id == env_id:
            env_actions.delete_environment(stores, repo, env, signed_in_user())
            flash("Environment deleted.")
    return back_to("webui.settings_envs", repo)


@webui_bp.route("/repos/<owner>/<name>/settings/cron", methods=["GET", "POST"])
@login_required
def settings_cron(owner: str, name: str) -> ResponseReturnValue:
    """Cron jobs: name, schedule (five fields or a descriptor such as @hourly), branch; each
    with its next run."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    if request.method == "POST":
        form = Form()
        cron_name = form.checked("name", cron_actions.check_name)
        schedule = form.checked("schedule", cron_actions.check_schedule)
        branch = form.text("branch", max_len=200)
        if form.ok:
            try:
                cron_actions.create_cron(
                    current_services(),
                    repo,
                    signed_in_user(),
                    name=cron_name,
                    schedule=schedule,
                    branch=branch,
                )
            except Conflict:
                form.errors["name"] = f"There is already a cron job {cron_name}."
        if not form.ok:
            return _cron_page(repo, form, 400)
        flash(f"Cron job {cron_name} saved.")
        return back_to("webui.settings_cron", repo)
    return _cron_page(repo)


def _cron_page(repo: Repo, form: Form | None = None, status: int = 200) -> tuple[str, int]:
    services = current_services()
    crons = services.stores.crons.matching(repo.id)
    upcoming = cron_actions.next_runs(services, crons, time.time())
    return render_settings(
        "settings_cron.html", repo, form, status, crons=crons, next_runs=upcoming
    )


@webui_bp.route("/repos/<owner>/<name>/settings/cron/<int:cron_id>/delete", methods=["POST"])
@login_required
def settings_cron_delete(owner: str, name: str, cron_id: int) -> ResponseReturnValue:
    """Delete one cron job of the repository."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    services = current_services()
    for cron in services.stores.crons.matching(repo.id):
        if cron.id == cron_id:
            cron_actions.delete_cron(services, repo, cron, signed_in_user())
            flash("Cron job deleted.")
    return back_to("webui.settings_cron", repo)


def sentence(exc: RunnerError) -> str:
    """An action's refusal as a sentence next to a field."""
    text = str(exc)
    return text[:1].upper() + text[1:].rstrip(".") + "."
