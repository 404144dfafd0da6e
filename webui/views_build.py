"""A build's page: stages and steps with live statuses, the selected step's log, and actions.

Live parts: the build's state and its log lines arrive on the browser's one live connection (the
API's event stream, see ``runner.server.api.stream`` and static/live.js); ``state.json`` (the same
state and the user's buttons, with an ETag) is fetched when the build's status changed and polled
only while the server admits no more streams, as ``tail.json`` (the log's tail, bounded in lines
and bytes, then the chunks after a given one) is. Buttons appear only to users
allowed to use them, and every action checks the role again on the server, then calls the
same action of ``runner.services.builds`` as the API (which records who did it).
"""

from __future__ import annotations

import hashlib
from typing import Any, TypedDict

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from runner.core import DONE_STATUSES, ROLE_READ, ROLE_WRITE, SUCCESS, Build, Repo, Stage, Step
from runner.errors import BadRequest
from runner.server.api.logs import chunk_number, raw_log_response
from runner.server.services import current_services
from runner.services import builds as build_actions
from runner.services import deployments as deploy_views
from runner.services.values import whole_number
from webui import build_graph, data, live_state, webui_bp
from webui.session_auth import can, login_required, role, signed_in_user
from webui.views_builds import repo_or_404

# Lines of a log sent to the page at first (within the server's ``log_view_bytes``); the rest is
# in the raw download.
TAIL_LINES = 5000


def _environments(repo: Repo) -> list[Any]:
    """The repository's environment records (``runner.store.records.Environment``, which the
    pages may not import)."""
    envs = getattr(data.stores(), "environments", None)
    return envs.of_repo(repo.id) if envs is not None else []


def permissions(repo: Repo, build: Build) -> dict[str, bool]:
    """Which buttons the page user gets for this build."""
    write = can(repo, ROLE_WRITE)
    done = build.status in DONE_STATUSES
    blocked = build.status == "blocked" or any(s.status == "blocked" for s in build.stages)
    failed = any(s.status in build_actions.FAILED_STAGES for s in build.stages)
    return {
        "cancel": write and not done,
        "restart": write and done,
        "rerun_failed": write and done and failed,
        "approve": write and blocked,
        "promote": write and build.status == SUCCESS and bool(_environments(repo)),
    }


def actions_key(repo: Repo, build: Build) -> str:
    """Changes exactly when the set of buttons (or deploy targets) changes."""
    perms = permissions(repo, build)
    envs = [e.name for e in _environments(repo)] if perms["promote"] else []
    return ",".join(sorted(k for k, v in perms.items() if v)) + "|" + ",".join(envs)


def _find_step(build: Build, step_id: int) -> Step:
    for stage in build.stages:
        for step in stage.steps:
            if step.id == step_id:
                return step
    abort(404, description=f"build #{build.number} has no step {step_id}")


def _stage_of(build: Build, step: Step) -> Stage:
    return next(stage for stage in build.stages if stage.id == step.stage_id)


def _default_step(build: Build) -> Step | None:
    """The step to show first: a running one, else the first failed, else the last started."""
    steps = [step for stage in build.stages for step in stage.steps]
    for wanted in ("running", "failure", "error", "killed"):
        for step in steps:
            if step.status == wanted:
                return step
    started = [s for s in steps if s.started]
    return started[-1] if started else (steps[0] if steps else None)


class BuildAddress(TypedDict):
    """The path parameters of a build's pages."""

    owner: str
    name: str
    number: int


def log_api_url(repo: Repo, build: Build, step: Step) -> str:
    """The API's address of a step's log; its search and line ranges are below it."""
    stage = _stage_of(build, step)
    return (
        f"/api/v1/repos/{repo.owner}/{repo.name}/builds/{build.number}"
        f"/logs/{stage.number}/{step.number}"
    )


def stream_url(repo: Repo, build: Build, step: Step) -> str:
    """The API's SSE stream of a step's log (steps are addressed by stage and step number)."""
    stage = _stage_of(build, step)
    return (
        f"/api/v1/repos/{repo.owner}/{repo.name}/builds/{build.number}"
        f"/logs/{stage.number}/{step.number}/stream"
    )


@webui_bp.route("/repos/<owner>/<name>/<int:number>")
@login_required
def build(owner: str, name: str, number: int) -> ResponseReturnValue:
    """The build page; ``?step=ID`` selects the step whose log is shown."""
    repo = repo_or_404(owner, name)
    found = data.get_build(repo, number)
    step_arg = request.args.get("step", "")
    step_id = whole_number(step_arg, "step", low=1) if step_arg else None
    # Without a chosen step (or when following), the page moves on to the next running step.
    auto = step_id is None or request.args.get("follow") == "1"
    selected = _default_step(found) if step_id is None else _find_step(found, step_id)
    base: BuildAddress = {"owner": owner, "name": name, "number": number}
    ctx = {}
    if selected is not None:
        ctx = {
            "tail_url": url_for("webui.log_tail", step_id=selected.id, **base),
            "raw_url": url_for("webui.log_raw", step_id=selected.id, **base),
            "stream_url": stream_url(repo, found, selected),
            "log_api_url": log_api_url(repo, found, selected),
        }
    return render_template(
        "build.html",
        repo=repo,
        build=found,
        selected=selected,
        auto=auto,
        waits=data.wait_reasons(found),
        lanes=build_graph.lanes(found),
        history=data.stores().events.of_build(found.id),
        agents=data.agent_names(found),
        deployments=deploy_views.build_deployments(data.stores(), found),
        perms=permissions(repo, found),
        environments=_environments(repo),
        state_url=url_for("webui.build_state", **base),
        actions_key=actions_key(repo, found),
        step_url=lambda step: url_for("webui.build", step=step.id, **base),
        **ctx,
    )


@webui_bp.route("/repos/<owner>/<name>/<int:number>/state.json")
@login_required
def build_state(owner: str, name: str, number: int) -> ResponseReturnValue:
    """The build's live state (``webui.live_state``) and this user's buttons, with an ETag.

    The ETag names the server process, how many build, stage and step writes it committed, the
    build and the user's role: when the page has it (``If-None-Match``) the answer is a 304
    found without reading the build, so a fallback poll of an unchanged build costs a lookup of
    the repository and the role. (Durations tick on the page, not through this.)
    """
    repo = repo_or_404(owner, name)
    changes = current_services().changes
    seen = f"{changes.boot}:{changes.generation}:{repo.id}:{number}:{signed_in_user().id}"
    tag = '"' + hashlib.sha1(f"{seen}:{role(repo)}".encode()).hexdigest() + '"'
    if tag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers={"ETag": tag, "Cache-Control": "no-cache"})
    found = data.get_build(repo, number)
    perms = permissions(repo, found)
    envs = _environments(repo) if perms["promote"] else []
    state = live_state.build_state(found)
    state["actions_key"] = actions_key(repo, found)
    state["actions_html"] = render_template(
        "_build_actions.html", repo=repo, build=found, perms=perms, environments=envs
    )
    response = jsonify(state)
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = "no-cache"
    return response


@webui_bp.route("/repos/<owner>/<name>/<int:number>/logs/<int:step_id>/tail.json")
@login_required
def log_tail(owner: str, name: str, number: int, step_id: int) -> ResponseReturnValue:
    """The last lines of a step's log (at most ``TAIL_LINES`` and the server's byte budget) and
    the chunk to resume after; ``?after=SEQ`` only from chunks after SEQ (the page's polling
    when it may not open a live stream)."""
    repo = repo_or_404(owner, name, ROLE_READ)
    step = _find_step(data.get_build(repo, number), step_id)
    after = chunk_number(request.args.get("after", "-1"), "after")
    tail = data.log_tail(step.id, TAIL_LINES, after=after)
    return jsonify(
        lines=tail.lines,
        first_line=tail.first_line,
        total_lines=tail.total_lines,
        truncated=tail.truncated,
        times=tail.times,
        cut_lines=tail.first_line - 1,
        cut_bytes=step.log_cut_bytes,
        last_seq=tail.last_seq,
        done=step.status in DONE_STATUSES,
    )


@webui_bp.route("/repos/<owner>/<name>/<int:number>/logs/<int:step_id>/raw")
@login_required
def log_raw(owner: str, name: str, number: int, step_id: int) -> ResponseReturnValue:
    """The whole stored log as a text download, streamed page by page."""
    repo = repo_or_404(owner, name, ROLE_READ)
    step = _find_step(data.get_build(repo, number), step_id)
    return raw_log_response(step, f"{repo.name}-{number}-{step.name}.log")


def _back(owner: str, name: str, number: int) -> Response:
    return redirect(url_for("webui.build", owner=owner, name=name, number=number))


@webui_bp.route("/repos/<owner>/<name>/<int:number>/cancel", methods=["POST"])
@login_required
def build_cancel(owner: str, name: str, number: int) -> ResponseReturnValue:
    """Cancel the build (write role); running containers are stopped by their agent."""
    repo = repo_or_404(owner, name, ROLE_WRITE)
    build_actions.cancel(current_services(), data.get_build(repo, number), signed_in_user())
    flash(f"Build #{number} is being cancelled.")
    return _back(owner, name, number)


@webui_bp.route("/repos/<owner>/<name>/<int:number>/restart", methods=["POST"])
@login_required
def build_restart(owner: str, name: str, number: int) -> ResponseReturnValue:
    """Start a new build from this one (write role) and open it."""
    repo = repo_or_404(owner, name, ROLE_WRITE)
    new = build_actions.restart(
        current_services(), repo, data.get_build(repo, number), signed_in_user()
    )
    flash(f"Build #{new.number} restarts #{number}.")
    return _back(owner, name, new.number)


@webui_bp.route("/repos/<owner>/<name>/<int:number>/rerun-failed", methods=["POST"])
@login_required
def build_rerun_failed(owner: str, name: str, number: int) -> ResponseReturnValue:
    """Start a new build that runs this one's failed stages (and those after them) again and
    keeps the other stages' results (write role); open it."""
    repo = repo_or_404(owner, name, ROLE_WRITE)
    new = build_actions.rerun_failed(
        current_services(), repo, data.get_build(repo, number), signed_in_user()
    )
    flash(f"Build #{new.number} re-runs the failed stages of #{number}.")
    return _back(owner, name, new.number)


@webui_bp.route("/repos/<owner>/<name>/<int:number>/approve", methods=["POST"])
@login_required
def build_approve(owner: str, name: str, number: int) -> ResponseReturnValue:
    """Let a waiting deployment run (write role)."""
    repo = repo_or_404(owner, name, ROLE_WRITE)
    build_actions.approve(current_services(), data.get_build(repo, number), signed_in_user())
    flash(f"Build #{number} approved.")
    return _back(owner, name, number)


@webui_bp.route("/repos/<owner>/<name>/<int:number>/decline", methods=["POST"])
@login_required
def build_decline(owner: str, name: str, number: int) -> ResponseReturnValue:
    """Refuse a waiting deployment (write role)."""
    repo = repo_or_404(owner, name, ROLE_WRITE)
    build_actions.decline(current_services(), data.get_build(repo, number), signed_in_user())
    flash(f"Build #{number} declined.")
    return _back(owner, name, number)


@webui_bp.route("/repos/<owner>/<name>/<int:number>/promote", methods=["POST"])
@login_required
def build_promote(owner: str, name: str, number: int) -> ResponseReturnValue:
    """Promote (or roll back) the build to an environment of the repository (write role)."""
    repo = repo_or_404(owner, name, ROLE_WRITE)
    target = request.form.get("target", "")
    event = request.form.get("event", "promote")
    names = [e.name for e in _environments(repo)]
    if target not in names or event not in ("promote", "rollback"):
        raise BadRequest(f"choose one of the environments {', '.join(names) or '(none defined)'}")
    new = build_actions.promote(
        current_services(),
        repo,
        data.get_build(repo, number),
        signed_in_user(),
        target=target,
        event=event,
    )
    flash(f"Build #{new.number} deploys #{number} to {target}.")
    return _back(owner, name, new.number)
