"""Builders of builds for the store tests."""

from __future__ import annotations

from runner.core import PENDING, Build, Stage, Step
from runner.pipeline.spec import StageSpec, StepSpec


def make_stage(
    name: str,
    *,
    number: int = 1,
    steps: tuple[str, ...] = ("clone", "test"),
    labels: dict[str, str] | None = None,
    depends_on: list[str] | None = None,
    run_policy: str = "on-success",
    status: str = PENDING,
) -> Stage:
    return Stage(
        id=0,
        build_id=0,
        number=number,
        name=name,
        status=status,
        labels=dict(labels or {}),
        depends_on=list(depends_on or []),
        spec=StageSpec(
            name=name,
            run_policy=run_policy,
            steps=[StepSpec(name=s, image="runner-test/busybox") for s in steps],
        ),
        steps=[Step(id=0, stage_id=0, number=i, name=s) for i, s in enumerate(steps, 1)],
    )


def make_build(repo_id: int, *stages: Stage, branch: str = "main", event: str = "push") -> Build:
    return Build(
        id=0,
        repo_id=repo_id,
        number=0,
        event=event,
        branch=branch,
        ref=f"refs/heads/{branch}",
        commit="a" * 40,
        message="change",
        context={"repo": "acme/app", "branch": branch},
        stages=list(stages) or [make_stage("default")],
    )
