"""The compiled plan of a build as a person reads it: ``runner plan``, the build page's
"Compiled configuration" and the corpus report.

A thin projection of the compiled ``StageSpec``/``StepSpec`` (what the agent receives), with
what the compiler leaves out put back for the reader: the stages that do not run and why, and
the steps and services whose ``when`` does not select the build, with the field that refuses
it. Secrets appear by name only (``{"from_secret": NAME}``): a spec never holds their values.
Pure: file texts or stored specs in, plain JSON-serialisable data out. The JSON contract is in
docs/pipeline.md ("The plan").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.pipeline.compile import compile_stage, default_image, trust_view
from runner.pipeline.config import CompiledBuild, load_pipeline
from runner.pipeline.environ import build_environment
from runner.pipeline.issues import Issue
from runner.pipeline.lint import read_files, unrunnable_reason
from runner.pipeline.model import WOODPECKER, Stage, Step
from runner.pipeline.plugin_settings import plugin_variables
from runner.pipeline.spec import KIND_CLONE, KIND_SERVICE, KIND_STEP, BuildContext, StageSpec
from runner.pipeline.spec import StepSpec as Spec

Json = dict[str, Any]


@dataclass
class Plan:
    """The stages of a build in file order, each as the plan's JSON form, and the lint
    warnings of its files."""

    stages: list[Json] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def to_dict(self) -> Json:
        """``{"stages": [...], "warnings": [...]}``, the form ``runner plan --format json``
        prints."""
        return {"stages": self.stages, "warnings": [w.to_dict() for w in self.warnings]}

    @property
    def runnable(self) -> list[Json]:
        """The stages that run for this build."""
        return [s for s in self.stages if s["runnable"]]


def plan_files(
    files: dict[str, str],
    ctx: BuildContext,
    *,
    environ: dict[str, str] | None = None,
    trusted: bool = False,
    privileged_images: Sequence[str] = (),
) -> Plan:
    """The plan of ``files`` (name → text) for the build ``ctx``, compiled by the server's own
    chain (``runner.pipeline.config.load_pipeline``, whose ``PipelineError`` it raises)."""
    build = load_pipeline(
        files, ctx, environ=environ, trusted=trusted, privileged_images=privileged_images
    )
    models, _ = read_files(files, ctx)
    return plan_build(build, models, ctx, environ=environ)


def plan_build(
    build: CompiledBuild,
    models: list[Stage],
    ctx: BuildContext,
    *,
    environ: dict[str, str] | None = None,
) -> Plan:
    """The plan of a compiled ``build``; ``models`` are its stages as read (``read_files``),
    which say what the compiler left out and why."""
    compiled = {spec.name: spec for spec in build.stages}
    plan = Plan(warnings=list(build.warnings))
    for model in models:
        spec = compiled.get(model.name)
        if spec is not None:
            plan.stages.append(stage_plan(spec, ctx, model=model, environ=environ))
        else:
            plan.stages.append(_left_out(model, ctx, environ))
    return plan


def plan_of_specs(specs: Sequence[StageSpec], ctx: BuildContext) -> Plan:
    """The plan of stages as a server stored them for a build (its steps left out by ``when``
    are not stored, so they are not shown)."""
    return Plan(stages=[stage_plan(spec, ctx) for spec in specs])


def stage_plan(
    spec: StageSpec,
    ctx: BuildContext,
    *,
    model: Stage | None = None,
    environ: dict[str, str] | None = None,
) -> Json:
    """One runnable stage: the spec's fields, its services and steps in order, and (with its
    ``model``) the steps its ``when`` left out, each where the file has it."""
    return {
        "name": spec.name,
        "number": spec.number,
        "type": spec.type,
        "platform": spec.platform,
        "labels": dict(spec.labels),
        "depends_on": list(spec.depends_on),
        "runnable": True,
        "reason": "",
        "run_policy": spec.run_policy,
        "workspace": spec.workspace,
        "clone": {
            "disable": spec.clone.disable,
            "depth": spec.clone.depth,
            "tags": spec.clone.tags,
            "submodules": spec.clone.submodules,
        },
        "matrix": dict(spec.matrix),
        "trust": spec.trust,
        "services": _merged(spec, spec.services, model, KIND_SERVICE, ctx, environ),
        "steps": _merged(spec, spec.steps, model, KIND_STEP, ctx, environ),
    }


def step_plan(step: Spec, ctx: BuildContext, stage: StageSpec, number: int) -> Json:
    """One compiled step or service as the agent receives it; ``number`` is its step number
    (0 for services), which its system variables carry."""
    environment: dict[str, Any] = dict(step.environment)
    for ref in step.secrets:
        environment[ref.env] = {"from_secret": ref.name}
    system = build_environment(ctx, stage, step, step_number=number)
    return {
        "name": step.name,
        "kind": step.kind,
        "image": step.image,
        "commands": list(step.commands),
        "entrypoint": step.entrypoint,
        "command": step.command,
        "environment": environment,
        "settings": {k: v for k, v in environment.items() if k.startswith("PLUGIN_")},
        "system_variables": sorted(k for k in system if k in environment),
        "privileged": step.privileged,
        "volumes": [
            {"kind": m.kind, "source": m.source, "target": m.target, "read_only": m.read_only}
            for m in step.mounts
        ],
        "working_dir": step.working_dir,
        "depends_on": list(step.depends_on),
        "detach": step.detach,
        "pull": step.pull,
        "user": step.user,
        "network_mode": step.network_mode,
        "failure": "ignore" if step.failure_ignored else "fail",
        "run_policy": step.run_policy,
        "runs": True,
        "skip_reason": "",
    }


def _merged(
    spec: StageSpec,
    compiled: list[Spec],
    model: Stage | None,
    kind: str,
    ctx: BuildContext,
    environ: dict[str, str] | None,
) -> list[Json]:
    """The compiled steps (or services) with the model's left-out ones in file order. The
    compiler keeps the steps it runs in file order and adds only the clone before them, so a
    model step is the next compiled one exactly when its ``when`` selects the build."""
    numbers = {id(s): (0 if kind == KIND_SERVICE else i) for i, s in enumerate(compiled, 1)}
    out = [step_plan(s, ctx, spec, numbers[id(s)]) for s in compiled if s.kind == KIND_CLONE]
    pending = [s for s in compiled if s.kind != KIND_CLONE]
    written = [] if model is None else model.services if kind == KIND_SERVICE else model.steps
    env = {**build_environment(ctx, spec), **spec.environment}
    for step in written:
        reason = _step_skip_reason(step, model, ctx, env) if model is not None else ""
        if not reason and pending and pending[0].name == step.name:
            taken = pending.pop(0)
            out.append(step_plan(taken, ctx, spec, numbers[id(taken)]))
        elif model is not None:
            out.append(_skipped_step(step, model, kind, reason or "not compiled", environ))
    out.extend(step_plan(s, ctx, spec, numbers[id(s)]) for s in pending)
    return out


def _step_skip_reason(step: Step, model: Stage, ctx: BuildContext, env: dict[str, str]) -> str:
    if step.when.statuses(ctx, env, model.matrix):
        return ""
    why = step.when.why_not(ctx, env, model.matrix)
    return f"when {why}" if why else "when.status selects neither success nor failure"


def _skipped_step(
    step: Step, model: Stage, kind: str, reason: str, environ: dict[str, str] | None
) -> Json:
    """A step the compiler left out, as written (no system variables: it gets none)."""
    view = trust_view(step, model)
    plugin_env, plugin_secrets = plugin_variables(step.settings)
    settings: dict[str, Any] = dict(plugin_env)
    settings.update({ref.env: {"from_secret": ref.name} for ref in plugin_secrets})
    environment: dict[str, Any] = {**(environ or {}), **model.environment, **step.environment}
    environment.update(settings)
    environment.update({env: {"from_secret": name} for env, name in step.secrets})
    return {
        "name": step.name,
        "kind": kind,
        "image": default_image(step, model),
        "commands": list(step.commands),
        "entrypoint": step.entrypoint,
        "command": step.command,
        "environment": environment,
        "settings": settings,
        "system_variables": [],
        "privileged": step.privileged,
        "volumes": [
            {"kind": m.kind, "source": m.source, "target": m.target, "read_only": m.read_only}
            for m in view.mounts
        ],
        "working_dir": step.working_dir,
        "depends_on": list(step.depends_on or []),
        "detach": step.detach,
        "pull": step.pull,
        "user": step.user,
        "network_mode": step.network_mode,
        "failure": "ignore" if step.failure_ignored else "fail",
        "run_policy": "",
        "runs": False,
        "skip_reason": reason,
    }


def _left_out(model: Stage, ctx: BuildContext, environ: dict[str, str] | None) -> Json:
    """A stage the build does not run, with the reason ``load_pipeline`` had."""
    reason = unrunnable_reason(model).removeprefix(f'pipeline "{model.name}": ')
    if not reason:
        env = {**build_environment(ctx), **model.matrix}
        why = model.trigger.why_not(ctx, env, model.matrix)
        if why:
            reason = f"trigger {why}"
        elif model.dialect == WOODPECKER and not _any_step_left(model, ctx, environ):
            reason = "no step runs for this build (Woodpecker leaves such a workflow out)"
        elif model.dialect == WOODPECKER:
            reason = "a workflow it depends on does not run (Woodpecker leaves it out too)"
        else:
            reason = "not compiled"
    return {
        "name": model.name,
        "number": 0,
        "type": model.type,
        "platform": model.platform or "linux/amd64",
        "labels": dict(model.labels),
        "depends_on": list(model.depends_on),
        "runnable": False,
        "reason": reason,
        "run_policy": "",
        "workspace": "",
        "clone": {},
        "matrix": dict(model.matrix),
        "trust": "",
        "services": [],
        "steps": [],
    }


def _any_step_left(model: Stage, ctx: BuildContext, environ: dict[str, str] | None) -> bool:
    spec = compile_stage(model, ctx, environ=environ)
    return any(s.kind != KIND_CLONE for s in spec.steps)
