"""The whole pipeline chain for one build: the entry point of the server and `runner exec`.

substitute → parse → lint → conditions → compile. Pure: file texts and a build context in,
compiled stages out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PipelineError
from runner.pipeline import limits
from runner.pipeline.compile import compile_stage, set_stage_dependencies
from runner.pipeline.configlang import script_language
from runner.pipeline.environ import build_environment
from runner.pipeline.graph import dependency_order
from runner.pipeline.issues import Issue, blocking
from runner.pipeline.lint import (
    lint_stages,
    read_files,
    sort_issues,
    trust_issues,
    unrunnable_reason,
)
from runner.pipeline.model import WOODPECKER, Stage
from runner.pipeline.plugin_socket import grant_docker_socket
from runner.pipeline.secret_subst import Placeholders
from runner.pipeline.spec import KIND_CLONE, BuildContext, StageSpec
from runner.pipeline.trust import FORK
from runner.pipeline.yamlload import check_budget, check_size


@dataclass
class CompiledBuild:
    """The stages of one build, ready for the queue.

    ``stages``: matched and compiled, numbered 1..n, ``depends_on`` resolved to names of
    stages in this list. ``skipped``: names of stages whose trigger/when did not match.
    ``unsupported``: names of stages the Docker engine cannot run (also in ``warnings``).
    ``warnings``: every non-blocking issue.
    """

    stages: list[StageSpec] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    @property
    def deploy_steps(self) -> list[str]:
        """Names (``stage/step``) of the steps that deploy to the build's target
        (``StepSpec.targets_environment``), in stage order."""
        return [
            f"{stage.name}/{step.name}"
            for stage in self.stages
            for step in stage.steps
            if step.targets_environment
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (stages as ``StageSpec.to_dict``)."""
        return {
            "stages": [s.to_dict() for s in self.stages],
            "skipped": list(self.skipped),
            "unsupported": list(self.unsupported),
            "warnings": [w.to_dict() for w in self.warnings],
        }


def check_files(files: dict[str, str], *, scan: bool = True) -> None:
    """Refuse pipeline files over a budget of ``runner.pipeline.limits`` before any other
    work is done for them: their count, each one's size and, with ``scan``, the YAML budgets
    of their raw text (nesting, aliases, documents, steps; ``yamlload.check_budget``), which
    every load checks anyway: the scan is for readers of the raw text before the pipeline
    chain (the environment declarations). Raises ``BudgetExceeded`` with the file and line."""
    limits.check_file_count(len(files))
    for name, text in files.items():
        if scan and not script_language(name):  # Jsonnet and Starlark are not YAML
            check_budget(text, name)
        else:
            check_size(text, name)


def load_pipeline(
    files: dict[str, str],
    ctx: BuildContext,
    *,
    environ: dict[str, str] | None = None,
    trusted: bool = False,
    privileged_images: Sequence[str] = (),
    fork_privileged: bool = False,
    fork_route: Callable[[dict[str, str]], str] | None = None,
    substitutable: Collection[str] = (),
) -> CompiledBuild:
    """Compile ``files`` (name → text; several for ``.woodpecker/*.yml``) for the build ``ctx``.

    ``environ`` holds the agent globals (first in every step's environment). Raises
    ``PipelineError`` (message with file and line, ``.issues`` = every blocking issue) when
    a file cannot be substituted or parsed or has lint errors, or when a step that runs for
    this event breaks the trust rule (``runner.pipeline.trust``) of the build's class, which
    ``trusted`` (the repository's mark) and ``ctx.fork`` decide; a step of an image on
    ``privileged_images`` run as shipped gets the Docker socket first, as Drone makes such
    images privileged (``plugin_socket``). For a fork,
    ``fork_route(labels)`` says why a stage's agent labels are refused ("" when they are not).
    Stages of a type the Docker engine cannot run are left out with a warning; if no stage is
    left at all, and some were left out for that reason, that is an error too.
    ``substitutable`` names the secrets whose ``${NAME}`` a Drone 0.8 file may use (never for
    a pull request); they reach the spec as references, never as values
    (``runner.pipeline.secret_subst``).
    """
    if not files:
        raise PipelineError(
            "no pipeline file: add .drone.yml, .woodpecker.yml or .woodpecker/*.yml, "
            "or set the repository's pipeline path"
        )
    check_files(files, scan=False)
    placeholders = Placeholders.for_secrets(
        () if ctx.event == "pull_request" or ctx.fork else substitutable
    )
    stages, issues = read_files(files, ctx, secrets=placeholders.by_name)
    issues.extend(lint_stages(stages))
    issues = sort_issues(issues)
    _raise_errors(issues)
    result = CompiledBuild(warnings=[i for i in issues if not i.blocking])
    selected: list[Stage] = []
    build_env = build_environment(ctx)
    for stage in stages:
        if unrunnable_reason(stage):
            result.unsupported.append(stage.name)
        elif stage.trigger.matches(ctx, {**build_env, **stage.matrix}, stage.matrix):
            selected.append(stage)
        else:
            result.skipped.append(stage.name)
    if not selected and result.unsupported and not result.skipped:
        reason = unrunnable_reason(next(s for s in stages if s.name == result.unsupported[0]))
        first = next(s for s in stages if s.name == result.unsupported[0])
        raise PipelineError(
            f"nothing to run: {reason}",
            file=first.file,
            line=first.line,
            issues=[i for i in result.warnings if "not runnable" in i.message],
        )
    compiled = {
        id(stage): compile_stage(
            stage,
            ctx,
            environ=environ,
            trusted=trusted,
            fork_privileged=fork_privileged,
            privileged_images=privileged_images,
        )
        for stage in selected
    }
    empty = [s for s in selected if s.dialect == WOODPECKER and _steps_left(compiled[id(s)]) == 0]
    result.skipped.extend(s.name for s in empty)  # Woodpecker drops a workflow with no step left
    selected = [s for s in selected if s not in empty]
    # The stages are this call's own model (read above), so their dependencies are rewritten
    # in place: the compiled specs are keyed by the stages' identity.
    unrunnable = {s.name: s.depends_on for s in stages if s.name in result.unsupported}
    runnable = [s.name for s in stages if s.name not in unrunnable]
    for stage in selected:
        stage.depends_on = through_unrunnable(stage.depends_on, unrunnable, runnable)
    selected = _drop_woodpecker_orphans(selected, result.skipped)
    names = [s.name for s in selected]
    for number, stage in enumerate(selected, start=1):
        spec = compiled[id(stage)]
        if number != spec.number:  # numbers are known once stages are left out: compile again
            spec = compile_stage(
                stage,
                ctx,
                number=number,
                environ=environ,
                trusted=trusted,
                fork_privileged=fork_privileged,
                privileged_images=privileged_images,
            )
        set_stage_dependencies(spec, resolve_stage_dependencies(stage.depends_on, names, spec.name))
        placeholders.resolve(spec)
        result.stages.append(spec)
    refused: list[Issue] = []
    for stage, spec in zip(selected, result.stages, strict=True):
        grant_docker_socket(spec, privileged_images, fork_privileged=fork_privileged)
        steps = [*spec.services, *spec.steps]
        refused += trust_issues(
            stage,
            steps,
            trust=spec.trust,
            privileged_images=privileged_images,
            fork_privileged=fork_privileged,
        )
        if spec.trust == FORK and fork_route is not None:
            refused += _route_issues(stage, fork_route)
    _raise_errors(sort_issues(refused))
    return result


def _raise_errors(issues: list[Issue]) -> None:
    """Raise ``PipelineError`` for the blocking ``issues``, the first in the message."""
    errors = blocking(issues)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise PipelineError(
            f"{first.path + ': ' if first.path else ''}{first.message}{more}",
            file=first.file,
            line=first.line,
            issues=errors,
        )


def _route_issues(stage: Stage, fork_route: Callable[[dict[str, str]], str]) -> list[Issue]:
    reason = fork_route(dict(stage.labels))
    if not reason:
        return []
    key = "node" if "node" in stage.lines else "labels"
    path = f"{stage.path}.{key}" if stage.path else key
    line = stage.lines.get(key, stage.line)
    return [Issue(stage.file, line, path, f'pipeline "{stage.name}": {reason}')]


def _steps_left(spec: StageSpec) -> int:
    return sum(1 for s in spec.steps if s.kind != KIND_CLONE)


def resolve_stage_dependencies(deps: list[str], names: list[str], own: str) -> list[str]:
    """Dependencies as names of compiled stages: ``build`` also means every matrix stage
    ``build (...)``; dependencies on skipped stages are dropped (they count as done, as in
    Drone); those on unsupported ones are replaced by theirs first (``through_unrunnable``)."""
    out: list[str] = []
    for dep in deps:
        for name in names:
            if name != own and (name == dep or name.startswith(dep + " (")) and name not in out:
                out.append(name)
    return out


def through_unrunnable(
    deps: list[str], unrunnable: dict[str, list[str]], runnable: list[str]
) -> list[str]:
    """``deps`` with each stage the Docker engine cannot run replaced by that stage's own
    dependencies, transitively: with A <- B (unrunnable) <- C, C waits for A, as it would
    wait for B waiting for A where B's own runner runs it (Drone and Woodpecker order stages
    by ``depends_on`` alone, whichever runner takes each). ``unrunnable`` maps each such
    stage's name to its ``depends_on``; ``runnable`` names the other stages. A name of a
    matrix base also means its stages; it is kept while it names a runnable one."""
    out: list[str] = []
    pending = list(deps)
    seen: set[str] = set()
    while pending:
        dep = pending.pop(0)
        if _names(dep, runnable) and dep not in out:
            out.append(dep)
        for name in _names(dep, list(unrunnable)):
            if name not in seen:
                seen.add(name)
                pending.extend(unrunnable[name])
    return out


def _names(dep: str, names: list[str]) -> list[str]:
    """The stages of ``names`` a ``depends_on`` entry means: itself, or a matrix base's."""
    return [name for name in names if name == dep or name.startswith(dep + " (")]


def _drop_woodpecker_orphans(selected: list[Stage], skipped: list[str]) -> list[Stage]:
    """Woodpecker leaves out a workflow whose dependency does not run, then the workflows that
    depend on that one, and so on: decided in one pass in dependency order (the linter has
    refused cycles), added to ``skipped`` in the order of Woodpecker's own rounds (file order
    within a round)."""
    names = [s.name for s in selected]
    # Each depends_on entry as the stages it names (a matrix base names each of its stages).
    wanted = {
        s.name: [resolve_stage_dependencies([d], names, s.name) for d in s.depends_on]
        for s in selected
    }
    woodpecker = {s.name for s in selected if s.dialect == WOODPECKER}
    graph = {name: [n for entry in entries for n in entry] for name, entries in wanted.items()}
    left_out: dict[str, int] = {}  # name -> the round that leaves it out
    for name in dependency_order(graph):
        rounds = [
            max((left_out[n] for n in entry), default=0) + 1
            for entry in wanted[name]
            if all(n in left_out for n in entry)  # nothing it names runs
        ]
        if name in woodpecker and rounds:
            left_out[name] = min(rounds)
    skipped.extend(sorted(left_out, key=lambda name: (left_out[name], names.index(name))))
    return [s for s in selected if s.name not in left_out]
