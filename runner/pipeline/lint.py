"""Lint: every problem of the pipeline files at once, with file, line, field path and level.

``lint_files`` is what `runner lint` and the server call. Reading problems (wrong types,
unknown keys, duplicate keys, malformed YAML or substitution) come from the readers; this
module adds the checks that need the whole model: names, dependencies and cycles, images,
volumes, stage types the Docker engine cannot run. The trust rule (``runner.pipeline.trust``)
is checked by ``trust_issues``: on every step as written by `runner lint`, on the steps that
run for the event when a build is compiled (``runner.pipeline.config``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from runner.errors import PipelineError
from runner.pipeline.compile import default_image, trust_view
from runner.pipeline.configlang import convert_script, generated_name, script_language
from runner.pipeline.environ import build_environment
from runner.pipeline.graph import find_cycle
from runner.pipeline.issues import ERROR, WARNING, Issue, IssueList
from runner.pipeline.model import DRONE, WOODPECKER, Stage, Step
from runner.pipeline.parser import parse_file
from runner.pipeline.spec import BuildContext, StepSpec
from runner.pipeline.trust import OWN, TRUSTED, refusal

__all__ = [
    "Issue",
    "lint_files",
    "lint_stages",
    "read_files",
    "trust_issues",
    "unrunnable_reason",
]

RESERVED_STEP_NAMES = ("clone",)
RESERVED_VOLUME_NAMES = ("workspace", "_workspace", "_docker_socket")

# The build the linter substitutes against when no build is given: a tag on the default
# branch, so that ${DRONE_TAG} and friends are not empty.
LINT_CONTEXT = BuildContext(
    repo="lint/repo",
    event="tag",
    branch="main",
    tag="v1.0.0",
    commit="0123456789abcdef0123456789abcdef01234567",
    message="lint",
    author="lint",
)


def read_files(
    files: dict[str, str], ctx: BuildContext, *, secrets: Mapping[str, str] | None = None
) -> tuple[list[Stage], list[Issue]]:
    """Substitute and read every file; problems that stop a file become error issues.
    ``secrets``: placeholders of the secrets a Drone 0.8 file may substitute, by name.

    A Jsonnet or Starlark file is first evaluated for ``ctx`` into the YAML it stands for
    (``runner.pipeline.configlang``), as Drone converts it before reading it."""
    stages: list[Stage] = []
    issues: list[Issue] = []
    base = build_environment(ctx)
    for file, text in files.items():
        try:
            read_as = file
            if script_language(file):
                text = convert_script(file, text, ctx)
                read_as = generated_name(file)  # its lines are those of the generated text
            file_stages, file_issues = parse_file(
                read_as,
                text,
                lambda m: {**base, **m},
                steps_before=sum(len(s.steps) + len(s.services) for s in stages),
                secrets=secrets,
            )
        except PipelineError as exc:
            issues.append(
                Issue(exc.file or file, exc.line, "", super(PipelineError, exc).__str__())
            )
            continue
        stages.extend(file_stages)
        issues.extend(file_issues)
    return stages, issues


def lint_files(
    files: dict[str, str],
    *,
    trusted: bool = False,
    privileged_images: Sequence[str] = (),
    ctx: BuildContext | None = None,
) -> list[Issue]:
    """Every issue of ``files`` (name → text), errors and warnings, in file and line order.

    The trust rule is checked on every step, whatever its ``when``, for a build of the
    repository itself (``trusted``: of a trusted repository). Never raises for bad input:
    unreadable files are reported as error issues.
    """
    stages, issues = read_files(files, ctx or LINT_CONTEXT)
    issues.extend(lint_stages(stages))
    trust = TRUSTED if trusted else OWN
    for stage in stages:
        if not unrunnable_reason(stage):
            steps = [trust_view(step, stage) for step in stage.all_steps()]
            issues.extend(
                trust_issues(stage, steps, trust=trust, privileged_images=privileged_images)
            )
    return sort_issues(issues)


def trust_issues(
    stage: Stage,
    steps: list[StepSpec],
    *,
    trust: str,
    privileged_images: Sequence[str] = (),
    fork_privileged: bool = False,
) -> list[Issue]:
    """An error issue, at the step's line, for each of ``steps`` (compiled or ``trust_view``s
    of ``stage``'s steps) that the trust rule refuses in a build of class ``trust``."""
    written = {step.name: step for step in stage.all_steps()}
    issues = IssueList(stage.file)
    for step in steps:
        reason = refusal(
            step,
            trust=trust,
            privileged_images=privileged_images,
            fork_privileged=fork_privileged,
        )
        if reason:
            source = written.get(step.name)
            line = source.line if source else stage.line
            issues.error(line, source.path if source else stage.path, reason)
    return issues


def sort_issues(issues: list[Issue]) -> list[Issue]:
    """Issues by file (in the order files were given) and line; stable otherwise."""
    order: dict[str, int] = {}
    for issue in issues:
        order.setdefault(issue.file, len(order))
    return sorted(issues, key=lambda i: (order[i.file], i.line))


def unrunnable_reason(stage: Stage) -> str:
    """Why the Docker engine cannot run ``stage`` ("" when it can)."""
    if stage.type not in ("docker", ""):
        return (
            f'pipeline "{stage.name}": type: {stage.type} is not runnable by the Docker engine; '
            "it is not run (use type: docker to run it here)"
        )
    if stage.platform.startswith("windows") or stage.labels.get("platform", "").startswith(
        "windows"
    ):
        return (
            f'pipeline "{stage.name}": the windows platform is not runnable by the Docker engine '
            "(it runs Linux containers); it is not run"
        )
    if stage.labels.get("backend") in ("local", "kubernetes"):
        return (
            f'pipeline "{stage.name}": backend {stage.labels["backend"]} is not runnable by the '
            "Docker engine; it is not run"
        )
    return ""


def lint_stages(stages: list[Stage]) -> list[Issue]:
    """The checks that need the whole model (the trust rule aside: see ``trust_issues``)."""
    out: list[Issue] = []
    names: dict[str, Stage] = {}
    for stage in stages:
        issues = IssueList(stage.file)
        if names.get(stage.name, stage).file == stage.file and stage.name in names:
            issues.error(
                stage.lines.get("name", stage.line),
                f"{stage.path}.name" if stage.path else "name",
                f'duplicate pipeline name "{stage.name}": give each pipeline its own name',
            )
        names.setdefault(stage.name, stage)
        reason = unrunnable_reason(stage)
        if reason:
            issues.warning(stage.line, stage.path or "type", reason)
        else:
            _lint_stage(stage, issues)
        out.extend(issues)
    out.extend(_lint_stage_dependencies(stages))
    return out


def _lint_duplicate_names(stage: Stage, issues: IssueList) -> None:
    """Drone: a name once among steps and services. Woodpecker: once among services (its
    linter's ``lintServiceNames``: a service's name is its host name) and once among steps
    when ``depends_on`` is used (compiler/dag.go ``compileByDependsOn``: a dependency names
    one step); a step may share a service's name, and steps in sequence may share one."""
    groups: list[tuple[list[Step], str]]
    if stage.dialect == WOODPECKER:
        groups = [
            (stage.services, "service names must be unique (a service is reached by its name)")
        ]
        if any(step.depends_on is not None for step in stage.steps):
            groups.append((stage.steps, "step names must be unique when depends_on is used"))
    else:
        groups = [(stage.all_steps(), "rename one of them")]
    for group, why in groups:
        seen: dict[str, int] = {}
        for step in group:
            if step.name in seen:
                issues.error(
                    step.line,
                    f"{step.path}.name",
                    f'duplicate step name "{step.name}" (first on line {seen[step.name]}): {why}',
                )
            seen.setdefault(step.name, step.line)


def _lint_stage(stage: Stage, issues: IssueList) -> None:
    _lint_duplicate_names(stage, issues)
    for step in stage.all_steps():
        if step.name in RESERVED_STEP_NAMES and not stage.clone_disable:
            issues.error(
                step.line,
                f"{step.path}.name",
                f'step name "{step.name}" is reserved for the clone step: rename the step, '
                "or set clone: {disable: true} to clone yourself",
            )
        image = default_image(step, stage)
        if not image:
            issues.error(
                step.line,
                f"{step.path}.image",
                f'step "{step.name}" has no image: add image: (for example alpine:3)',
            )
        elif image != step.image:
            issues.warning(
                step.line,
                f"{step.path}.image",
                f'step "{step.name}" has no image; it runs the plugin {image} as Drone 0.8 did: '
                "write image: to make it explicit",
            )
        for volume in step.volumes:
            if volume.source in RESERVED_VOLUME_NAMES:
                issues.error(
                    volume.line,
                    f"{step.path}.volumes",
                    f'step "{step.name}": volume name "{volume.source}" is reserved: rename it',
                )
            if stage.dialect == DRONE and not volume.source.startswith("/"):
                if volume.source not in stage.volumes:
                    issues.warning(
                        volume.line,
                        f"{step.path}.volumes",
                        f'step "{step.name}": volume "{volume.source}" is not declared in the '
                        "pipeline volumes: it is a temporary volume; declare it with temp: {}",
                    )
    _lint_dependencies(stage, issues)


def _lint_dependencies(stage: Stage, issues: IssueList) -> None:
    names = [s.name for s in stage.steps]
    known = set(names) | ({"clone"} if not stage.clone_disable else set())
    graph: dict[str, list[str]] = {}
    for step in stage.steps:
        deps = step.depends_on or []
        graph[step.name] = deps
        for dep in deps:
            if dep in known:
                continue
            close = difflib.get_close_matches(dep, names, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            issues.error(
                step.lines.get("depends_on", step.line),
                f"{step.path}.depends_on",
                f'step "{step.name}" depends on "{dep}", which is not a step of this '
                f"pipeline{hint}",
            )
    cycle = find_cycle(graph)
    if cycle:
        first = next(s for s in stage.steps if s.name == cycle[0])
        issues.error(
            first.lines.get("depends_on", first.line),
            f"{first.path}.depends_on",
            "dependency cycle: " + " -> ".join(cycle) + "; remove one of these depends_on",
        )


def _lint_stage_dependencies(stages: list[Stage]) -> list[Issue]:
    out: list[Issue] = []
    names = {s.name for s in stages}
    bases = {s.name.split(" (", 1)[0] for s in stages}
    graph: dict[str, list[str]] = {}
    for stage in stages:
        # As compiled: a matrix pipeline's base name stands for each of its pipelines, so a
        # cycle through one is found too (it would leave the build waiting for ever).
        graph[stage.name] = [
            other.name
            for dep in stage.depends_on
            for other in stages
            if other.name == dep or (other.name != stage.name and other.name.startswith(dep + " ("))
        ]
        woodpecker = stage.dialect == WOODPECKER
        for dep in stage.depends_on:
            if dep not in names and dep not in bases:
                out.append(
                    Issue(
                        stage.file,
                        stage.lines.get("depends_on", stage.line),
                        f"{stage.path}.depends_on" if stage.path else "depends_on",
                        f'pipeline "{stage.name}" depends on "{dep}", which is not a pipeline of '
                        "this build: fix the name or remove it"
                        + (" (Woodpecker leaves this workflow out)" if woodpecker else ""),
                        WARNING if woodpecker else ERROR,
                    )
                )
    cycle = find_cycle(graph)
    if cycle:
        stage = next(s for s in stages if s.name == cycle[0])
        out.append(
            Issue(
                stage.file,
                stage.lines.get("depends_on", stage.line),
                "depends_on",
                "pipeline dependency cycle: " + " -> ".join(cycle) + "; remove one depends_on",
            )
        )
    return out
