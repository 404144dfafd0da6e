"""A build's "Compiled configuration": the plan the agents received, as ``runner plan`` prints
it, built from the stage specs the server stored for the build (``runner.pipeline.plan``).

Read role. Secrets appear by name only (a stored spec never holds their values); every value
is text in the page (Jinja escapes it), whatever the pipeline file put in it.
"""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from runner.core import ROLE_READ
from runner.pipeline.plan import plan_of_specs
from runner.pipeline.spec import BuildContext
from webui import data, webui_bp
from webui.session_auth import login_required
from webui.views_builds import repo_or_404


@webui_bp.route("/repos/<owner>/<name>/<int:number>/config")
@login_required
def build_config(owner: str, name: str, number: int) -> ResponseReturnValue:
    """The compiled configuration of build ``number``: its stages, services and steps."""
    repo = repo_or_404(owner, name, ROLE_READ)
    found = data.get_build(repo, number)
    ctx = BuildContext.from_dict(found.context)
    plan = plan_of_specs([stage.spec for stage in found.stages if stage.spec.name], ctx)
    return render_template("build_config.html", repo=repo, build=found, plan=plan.to_dict())
