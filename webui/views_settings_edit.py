"""Editing one row of a repository's settings: a secret (filters; the value only when a new
one is typed), an environment (patterns, labels, approval rules, lock) and a cron job
(schedule, branch), plus a cron job's switch (enabled or not) and "run now".

Admin role on the repository, as the settings pages. Each change is the action of
``runner.services`` that the API's ``PATCH`` calls, which records who made it; invalid input
answers 400 with the form and the message next to the field.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN, Cron, Repo, Secret
from runner.errors import BadRequest, Conflict
from runner.server.services import current_services
from runner.services import crons as cron_actions
from runner.services import environments as env_actions
from runner.services import secrets as secret_actions
from webui import data, webui_bp
from webui.forms import Form
from webui.session_auth import login_required, signed_in_user
from webui.views_builds import EVENTS, repo_or_404
from webui.views_settings import back_to, environment_fields, render_settings, sentence

SETTINGS = "/repos/<owner>/<name>/settings"


def _secret(repo: Repo, secret_id: int) -> Secret:
    for secret in data.stores().secrets.of_repo(repo.id):
        if secret.id == secret_id:
            found: Secret = secret
            return found
    abort(404, description=f"{repo.slug} has no secret {secret_id}")


@webui_bp.route(f"{SETTINGS}/secrets/<int:secret_id>/edit", methods=["GET", "POST"])
@login_required
def settings_secret_edit(owner: str, name: str, secret_id: int) -> ResponseReturnValue:
    """Change a secret's events, images, pull request flag and environment; its value only
    when one is typed (the stored value is never shown)."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    secret = _secret(repo, secret_id)
    if request.method != "POST":
        values = {
            "images": ", ".join(secret.images),
            "environment": secret.environment,
        }
        return render_settings("settings_secret_edit.html", repo, secret=secret, values=values)
    form = Form()
    events = request.form.getlist("events")
    if not events or any(e not in EVENTS for e in events):
        form.errors["events"] = "Pick at least one event from the list."
    options = {
        "events": events,
        "images": form.items("images"),
        "allow_pull_request": form.flag("allow_pull_request"),
        "environment": form.text("environment", max_len=100),
        "substitute": form.flag("substitute"),
    }
    if form.ok:
        try:
            secret_actions.edit_secret(
                data.stores(), repo, signed_in_user(), secret, request.form.get("value"), options
            )
        except Conflict as exc:
            form.errors["environment"] = sentence(exc)
        except BadRequest as exc:
            form.errors["value"] = sentence(exc)
    if not form.ok:
        return render_settings("settings_secret_edit.html", repo, form, 400, secret=secret)
    flash(f"Secret {secret.name} saved.")
    return back_to("webui.settings_secrets", repo)


def _environment(repo: Repo, env_id: int) -> Any:
    """The environment record ``env_id`` of ``repo`` (``runner.store.records.Environment``,
    which the pages may not import); 404 when the repository has none of that id."""
    for env in data.stores().environments.of_repo(repo.id):
        if env.id == env_id:
            return env
    abort(404, description=f"{repo.slug} has no environment {env_id}")


@webui_bp.route(f"{SETTINGS}/environments/<int:env_id>/edit", methods=["GET", "POST"])
@login_required
def settings_env_edit(owner: str, name: str, env_id: int) -> ResponseReturnValue:
    """Change an environment's patterns, agent labels, approval rules and lock (its name
    stays: builds and deployments are recorded under it)."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    env = _environment(repo, env_id)
    if request.method != "POST":
        values = {
            "branches": ", ".join(env.branches),
            "tags": ", ".join(env.tags),
            "events": ", ".join(env.events),
            "labels": ", ".join(f"{k}={v}" for k, v in env.labels.items()),
            "approvals_required": str(env.approvals_required),
        }
        return render_settings("settings_env_edit.html", repo, env=env, values=values)
    form = Form()
    fields = environment_fields(form)
    if form.ok:
        try:
            env_actions.update_environment(data.stores(), repo, env, signed_in_user(), fields)
        except BadRequest as exc:
            form.errors["branches"] = sentence(exc)
    if not form.ok:
        return render_settings("settings_env_edit.html", repo, form, 400, env=env)
    flash(f"Environment {env.name} saved.")
    return back_to("webui.settings_envs", repo)


def _cron(repo: Repo, cron_id: int) -> Cron:
    for cron in current_services().stores.crons.matching(repo.id):
        if cron.id == cron_id:
            found: Cron = cron
            return found
    abort(404, description=f"{repo.slug} has no cron job {cron_id}")


@webui_bp.route(f"{SETTINGS}/cron/<int:cron_id>/edit", methods=["GET", "POST"])
@login_required
def settings_cron_edit(owner: str, name: str, cron_id: int) -> ResponseReturnValue:
    """Change a cron job's schedule and branch (its name stays: pipelines select it)."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    cron = _cron(repo, cron_id)
    if request.method != "POST":
        values = {"schedule": cron.schedule, "branch": cron.branch}
        return render_settings("settings_cron_edit.html", repo, cron=cron, values=values)
    form = Form()
    schedule = form.checked("schedule", cron_actions.check_schedule)
    branch = form.text("branch", max_len=200)
    if not form.ok:
        return render_settings("settings_cron_edit.html", repo, form, 400, cron=cron)
    cron_actions.update_cron(
        current_services(), repo, cron, signed_in_user(), schedule=schedule, branch=branch
    )
    flash(f"Cron job {cron.name} saved.")
    return back_to("webui.settings_cron", repo)


@webui_bp.route(f"{SETTINGS}/cron/<int:cron_id>/enabled", methods=["POST"])
@login_required
def settings_cron_switch(owner: str, name: str, cron_id: int) -> ResponseReturnValue:
    """Turn a cron job on (``enabled=1``) or off (``enabled=0``)."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    cron = _cron(repo, cron_id)
    wanted = request.form.get("enabled", "")
    if wanted not in ("0", "1"):
        raise BadRequest("enabled is 1 (on) or 0 (off)")
    cron_actions.update_cron(
        current_services(), repo, cron, signed_in_user(), enabled=wanted == "1"
    )
    flash(f"Cron job {cron.name} {'enabled' if wanted == '1' else 'disabled'}.")
    return back_to("webui.settings_cron", repo)


@webui_bp.route(f"{SETTINGS}/cron/<int:cron_id>/run", methods=["POST"])
@login_required
def settings_cron_run(owner: str, name: str, cron_id: int) -> ResponseReturnValue:
    """Start the job's build now (event ``cron``, at its branch tip) and open it."""
    repo = repo_or_404(owner, name, ROLE_ADMIN)
    cron = _cron(repo, cron_id)
    build = cron_actions.run_cron_now(current_services(), repo, cron, signed_in_user())
    flash(f"Build #{build.number} runs cron job {cron.name} now.")
    return redirect(url_for("webui.build", owner=owner, name=name, number=build.number))
