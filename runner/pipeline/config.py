"""The whole pipeline chain for one build: the entry point of the server and `runner exec`.

substitute → parse → lint → conditions → compile. Pure: file texts and a build context in,
compiled stages out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PipelineError
from runner.pipeline import limits
from runner.pipeline.compile import compile_stage
from runner.pipeline.environ import build_environment
from runner.pipeline.issues import Issue, blocking
from runner.pipeline.lint import lint_stages, read_files, sort_issues, unrunnable_reason
from runner.pipeline.model import WOODPECKER, Stage
from runner.pipeline.spec import KIND_CLONE, BuildContext, StageSpec
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
        if scan:
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
) -> CompiledBuild:
    """Compile ``files`` (name → text; several for ``.woodpecker/*.yml``) for the build ``ctx``.

    ``environ`` holds the agent globals (first in every step's environment). Raises
    ``PipelineError`` (message with file and line, ``.issues`` = every blocking issue) when
    a file cannot be substituted or parsed or has lint errors. Stages of a type the Docker
    engine cannot run are left out with a warning; if no stage is left at all, and some were
    left out for that reason, that is an error too.
    """
    if not files:
        raise PipelineError(
            "no pipeline file: add .drone.yml, .woodpecker.yml or .woodpecker/*.yml, "
            "or set the repository's pipeline path"
        )
    check_files(files, scan=False)
    stages, issues = read_files(files, ctx)
    issues.extend(lint_stages(stages, trusted=trusted, privileged_images=privileged_images))
    issues = sort_issues(issues)
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
        id(stage): compile_stage(stage, ctx, environ=environ, trusted=trusted) for stage in selected
    }
    empty = [s for s in selected if s.dialect == WOODPECKER and _steps_left(compiled[id(s)]) == 0]
    result.skipped.extend(s.name for s in empty)  # Woodpecker drops a workflow with no step left
    selected = [s for s in selected if s not in empty]
    selected = _drop_woodpecker_orphans(selected, result.skipped)
    names = [s.name for s in selected]
    for number, stage in enumerate(selected, start=1):
        spec = compiled[id(stage)]
        if number != spec.number:  # numbers are known once stages are left out: compile again
            spec = compile_stage(stage, ctx, number=number, environ=environ, trusted=trusted)
        spec.depends_on = resolve_stage_dependencies(stage.depends_on, names, spec.name)
        result.stages.append(spec)
    return result


def _steps_left(spec: StageSpec) -> int:
    return sum(1 for s in spec.steps if s.kind != KIND_CLONE)


def resolve_stage_dependencies(deps: list[str], names: list[str], own: str) -> list[str]:
    """Dependencies as names of compiled stages: ``build`` also means every matrix stage
    ``build (...)``; dependencies on skipped or unsupported stages are dropped (they count
    as done, as in Drone)."""
    out: list[str] = []
    for dep in deps:
        for name in names:
            if name != own and (name == dep or name.startswith(dep + " (")) and name not in out:
                out.append(name)
    return out


def _drop_woodpecker_orphans(selected: list[Stage], skipped: list[str]) -> list[Stage]:
    """Woodpecker leaves out a workflow whose dependency does not run (repeatedly)."""
    while True:
        names = [s.name for s in selected]
        orphans = [
            s
            for s in selected
            if s.dialect == WOODPECKER
            and any(not resolve_stage_dependencies([d], names, s.name) for d in s.depends_on)
        ]
        if not orphans:
            return selected
        skipped.extend(s.name for s in orphans)
        selected = [s for s in selected if s not in orphans]
