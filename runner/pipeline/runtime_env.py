"""The variables that say how the build is going when a step starts, rebuilt for each step.

The compiled environment (``runner.pipeline.environ``) is fixed when the file is compiled;
these are not: the executor calls ``runtime_variables`` as each step starts, from the stage's
results so far and what it knows of the build's other stages (``BuildProgress``), and they win
over everything compiled, the step's own ``environment`` included, as in both originals:

- Drone: drone/runner-go pipeline/runtime/execer.go (``Execer.exec``) combines the step's
  environment with ``environ.Build``, ``environ.Stage`` and ``environ.Step`` of the state of
  that moment; drone/runner-go environ/environ.go says what they hold: ``DRONE_BUILD_STATUS``
  and ``DRONE_STAGE_STATUS`` ``failure`` once a stage of the build (this one included) or a
  step of this stage failed, errored or was killed (a step with ``failure: ignore`` does not
  count), ``DRONE_FAILED_STAGES`` and ``DRONE_FAILED_STEPS`` naming them (set only then), the
  ``*_STARTED`` times, and ``*_FINISHED`` as "now" while the build or stage runs.
- Woodpecker: agent/tracer.go (``createTracer``) sets ``CI_PIPELINE_STATUS`` and
  ``CI_STEP_STATUS`` to ``failure`` once the workflow has failed so far (its own steps only,
  not other workflows), ``CI_PIPELINE_STARTED`` and ``CI_STEP_STARTED`` to the workflow's
  start, and ``CI_PIPELINE_FINISHED`` and ``CI_STEP_FINISHED`` to "now".

Pure: results in, variables out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from runner.core import ERROR, FAILURE, KILLED, SUCCESS

# The statuses that make a step or a stage failing (Drone's StatusFailing, StatusError,
# StatusKilled in environ.go's isStageFailing and isBuildFailing).
FAILED_STATUSES = (FAILURE, ERROR, KILLED)


@dataclass
class BuildProgress:
    """What the agent knows of the build a stage belongs to when it starts the stage.

    ``started``: the build's start (unix time; 0 when unknown: the stage's own start is used).
    ``stages``: the status of each stage of the build by name, in the build's order, this
    stage included (its own entry is replaced by how it goes as it runs).
    """

    started: float = 0.0
    stages: dict[str, str] = field(default_factory=dict)


@dataclass
class StepOutcome:
    """A step of the stage that has ended, as the variables see it."""

    name: str
    status: str
    failure_ignored: bool = False

    @property
    def failing(self) -> bool:
        """Whether it makes the stage fail (Drone's ``failedSteps``)."""
        return self.status in FAILED_STATUSES and not self.failure_ignored


def runtime_variables(
    *,
    stage: str,
    stage_started: float,
    ended: Iterable[StepOutcome],
    progress: BuildProgress | None = None,
    now: float,
) -> dict[str, str]:
    """The ``DRONE_*``/``CI_*`` variables of a step of ``stage`` starting at ``now``.

    ``ended``: the stage's steps that have ended so far (clone and services included), in
    the order they ended; ``progress``: the build's other stages (None: this stage alone).
    """
    progress = progress or BuildProgress()
    failed_steps = [outcome.name for outcome in ended if outcome.failing]
    stage_failing = bool(failed_steps)
    statuses = dict(progress.stages)
    if stage_failing or stage not in statuses:
        statuses[stage] = FAILURE if stage_failing else SUCCESS
    failed_stages = [name for name, status in statuses.items() if status in FAILED_STATUSES]
    build_status = FAILURE if failed_stages else SUCCESS
    stage_status = FAILURE if stage_failing else SUCCESS
    clock = str(int(now))
    stage_start = str(int(stage_started or now))
    build_start = str(int(progress.started or stage_started or now))
    env = {
        "DRONE_BUILD_STATUS": build_status,
        "DRONE_BUILD_STARTED": build_start,
        "DRONE_BUILD_FINISHED": clock,
        "DRONE_STAGE_STATUS": stage_status,
        "DRONE_STAGE_STARTED": stage_start,
        "DRONE_STAGE_FINISHED": clock,
        "CI_PIPELINE_STATUS": stage_status,
        "CI_PIPELINE_STARTED": stage_start,
        "CI_PIPELINE_FINISHED": clock,
        "CI_STEP_STATUS": stage_status,
        "CI_STEP_STARTED": stage_start,
        "CI_STEP_FINISHED": clock,
    }
    if failed_stages:
        env["DRONE_FAILED_STAGES"] = ",".join(failed_stages)
    if failed_steps:
        env["DRONE_FAILED_STEPS"] = ",".join(failed_steps)
    return env
