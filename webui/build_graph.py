"""A build's stages and steps laid out as the build page draws them: lanes of stages in
dependency order, and inside each stage its steps in groups that run side by side.

Stages: lane 1 holds the stages that depend on no other, lane N those whose deepest dependency
is in lane N-1 (``depends_on``). Steps: the order the executor runs them in
(``runner.agent.executor``): clone steps first, one after the other; then, when any step of the
compiled stage has ``depends_on`` (a DAG, or Drone 0.8 ``group:``, which the compiler turns
into one), each step after the steps it depends on, else one after the other. Steps at the
same depth form a group that runs in parallel. Pure functions of the stored build.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from runner.core import FAILURE, SUCCESS, Build, Stage, Step
from runner.pipeline.graph import dependency_order, without_cycles
from runner.pipeline.spec import KIND_CLONE
from webui import webui_bp


@dataclass
class StepGroup:
    """Steps that run at the same time (one step when nothing runs beside it)."""

    steps: list[Step]
    # For each step, by id, the steps it waits for when that is not simply the group before.
    after: dict[int, list[str]] = field(default_factory=dict)

    @property
    def parallel(self) -> bool:
        """Whether more than one step runs in this group."""
        return len(self.steps) > 1


@dataclass
class StageNode:
    """A stage with its steps in groups."""

    stage: Stage
    groups: list[StepGroup]


@dataclass
class Lane:
    """Stages that may run at the same time: all they depend on is in earlier lanes."""

    number: int
    stages: list[StageNode]


def _depths(graph: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each node's depth: 0 without dependencies, else one more than its deepest one.
    A cycle (only stored data can hold one) is broken where ``without_cycles`` breaks it."""
    edges, _ = without_cycles(graph)
    depth: dict[str, int] = {}
    for node in dependency_order(edges):
        depth[node] = 1 + max((depth[d] for d in edges[node]), default=-1)
    return depth


def lanes(build: Build) -> list[Lane]:
    """The build's stages in lanes of dependency depth, each lane in file order."""
    graph = {stage.name: list(stage.depends_on) for stage in build.stages}
    depth = _depths(graph)
    by_depth: dict[int, list[StageNode]] = {}
    for stage in build.stages:
        node = StageNode(stage=stage, groups=step_groups(stage))
        by_depth.setdefault(depth.get(stage.name, 0), []).append(node)
    return [Lane(number=i, stages=by_depth[d]) for i, d in enumerate(sorted(by_depth), start=1)]


def _step_dependencies(stage: Stage) -> dict[str, list[str]]:
    """What each stored step of ``stage`` waits for, by name, as the executor runs them."""
    specs = {spec.name: spec for spec in stage.spec.steps}
    names = [step.name for step in stage.steps]
    clones = [n for n in names if n in specs and specs[n].kind == KIND_CLONE]
    rest = [n for n in names if n not in clones]
    dag = any(specs[n].depends_on for n in rest if n in specs)
    deps: dict[str, list[str]] = {}
    for i, name in enumerate(clones):
        deps[name] = clones[i - 1 : i]
    previous = clones[-1:]
    for name in rest:
        if dag and name in specs:
            wanted = [d for d in specs[name].depends_on if d in names and d != name]
            deps[name] = wanted or list(clones[-1:])
        else:
            deps[name] = list(previous)
            previous = [name]
    return deps


def step_groups(stage: Stage) -> list[StepGroup]:
    """The stage's steps in groups of the same depth, in run order; a step whose dependencies
    are not all in the group right before it names them in ``after``."""
    deps = _step_dependencies(stage)
    depth = _depths(deps)
    groups: dict[int, StepGroup] = {}
    for step in stage.steps:
        groups.setdefault(depth.get(step.name, 0), StepGroup(steps=[])).steps.append(step)
    ordered = [groups[d] for d in sorted(groups)]
    for index, group in enumerate(ordered):
        before = {s.name for s in ordered[index - 1].steps} if index else set()
        for step in group.steps:
            wanted = deps.get(step.name, [])
            if set(wanted) != before:
                group.after[step.id] = wanted
    return ordered


def exit_text(step: Step) -> str:
    """ "exit N" for a step whose container ended (or any non-zero code), else ""."""
    if step.status in (SUCCESS, FAILURE) or step.exit_code:
        return f"exit {step.exit_code}"
    return ""


webui_bp.add_app_template_global(exit_text, "step_exit")
