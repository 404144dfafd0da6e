"""The build page's layout of stages and steps (webui.build_graph, pure): stages in lanes of
dependency depth, steps in groups that run in parallel as the executor runs them (a DAG,
Drone 0.8 groups compiled to one, or a chain), a stored cycle still placing every stage once,
and "exit N" only for steps whose container ended. The same layout in Chromium with a real
agent: test_webui_build_view.py."""

from __future__ import annotations

from runner.core import Build, Stage, Step
from runner.pipeline.spec import StageSpec, StepSpec
from webui.build_graph import exit_text, lanes, step_groups

_ids = iter(range(1, 10_000))


def _stage(name: str, steps: list[StepSpec], depends_on: list[str] | None = None) -> Stage:
    spec = StageSpec(name=name, steps=steps, depends_on=depends_on or [])
    stage = Stage(id=next(_ids), build_id=1, number=1, name=name, spec=spec)
    stage.depends_on = list(spec.depends_on)
    stage.steps = [
        Step(id=next(_ids), stage_id=stage.id, number=i, name=s.name)
        for i, s in enumerate(steps, start=1)
    ]
    return stage


def _clone() -> StepSpec:
    return StepSpec(name="clone", image="", kind="clone")


def _names(groups) -> list[list[str]]:
    return [[s.name for s in g.steps] for g in groups]


def test_steps_without_dependencies_run_one_after_the_other():
    steps = [_clone(), StepSpec(name="a", image="x"), StepSpec(name="b", image="x")]
    stage = _stage("build", steps)
    groups = step_groups(stage)
    assert _names(groups) == [["clone"], ["a"], ["b"]]
    assert not any(g.parallel for g in groups) and not any(g.after for g in groups)


def test_steps_of_a_dag_run_in_parallel_groups_and_name_what_they_wait_for():
    stage = _stage(
        "build",
        [
            _clone(),
            StepSpec(name="lint", image="x", depends_on=["clone"]),
            StepSpec(name="unit", image="x", depends_on=["clone"]),
            StepSpec(name="docs", image="x", depends_on=["clone"]),
            StepSpec(name="package", image="x", depends_on=["lint", "unit"]),
        ],
    )
    groups = step_groups(stage)
    assert _names(groups) == [["clone"], ["lint", "unit", "docs"], ["package"]]
    assert [g.parallel for g in groups] == [False, True, False]
    package = groups[2].steps[0]
    assert groups[2].after == {package.id: ["lint", "unit"]}  # not docs


def test_stages_are_laid_out_in_lanes_of_dependency_depth():
    build = Build(id=1, repo_id=1, number=1, event="push")
    build.stages = [
        _stage("deploy", [], ["test", "docs"]),
        _stage("test", [], ["build"]),
        _stage("build", []),
        _stage("docs", []),
    ]
    laid = lanes(build)
    assert [[n.stage.name for n in lane.stages] for lane in laid] == [
        ["build", "docs"],
        ["test"],
        ["deploy"],
    ]
    assert [lane.number for lane in laid] == [1, 2, 3]


def test_a_stored_cycle_still_places_every_stage_once():
    build = Build(id=1, repo_id=1, number=1, event="push")
    build.stages = [_stage("a", [], ["b"]), _stage("b", [], ["a"]), _stage("c", [], ["gone"])]
    names = [n.stage.name for lane in lanes(build) for n in lane.stages]
    assert sorted(names) == ["a", "b", "c"]


def test_exit_code_shows_for_steps_whose_container_ended():
    step = Step(id=1, stage_id=1, number=1, name="t")
    assert exit_text(step) == ""  # pending
    step.status, step.exit_code = "failure", 3
    assert exit_text(step) == "exit 3"
    step.status, step.exit_code = "success", 0
    assert exit_text(step) == "exit 0"
    step.status, step.exit_code = "error", 0  # never ran: an image that cannot be pulled
    assert exit_text(step) == ""
    step.status, step.exit_code = "killed", 137
    assert exit_text(step) == "exit 137"
