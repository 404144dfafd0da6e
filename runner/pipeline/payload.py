"""What an agent receives when it claims a stage: the RPC's one typed payload.

The server builds a ``StagePayload`` from the stored stage (``runner.server.claims.payload``),
sends it as JSON (``to_json``), and the agent reads it back into the same class
(``from_json``), every field checked against its type with no conversion: a malformed payload
raises ``PayloadError`` naming the wrong fields, never a ``KeyError`` halfway through a run.
The spec inside is the stage's compiled ``StageSpec`` with the claim's own fields already set
(the repository's timeout, secret references renamed per step); the JSON form is documented
in docs/agents.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from runner.errors import PayloadError
from runner.pipeline.registry_auth import RegistryAuth
from runner.pipeline.runtime_env import BuildProgress
from runner.pipeline.spec import BuildContext, StageSpec, decode, encode_json


@dataclass
class StepRef:
    """A step of the claimed stage: the id its status updates and logs go to."""

    id: int
    name: str
    number: int


@dataclass
class StageRef:
    """The claimed stage: its id (for heartbeats, step updates and the end) and its steps."""

    id: int
    build_id: int
    number: int
    name: str
    steps: list[StepRef] = field(default_factory=list)


@dataclass
class BuildRef:
    """The build the stage belongs to: ``started`` (unix time) and the status of each of its
    stages by name at the claim (this one included), for the step variables that say how
    the build is going (``runner.pipeline.runtime_env``)."""

    id: int
    number: int
    event: str
    started: float = 0.0
    stages: dict[str, str] = field(default_factory=dict)

    def progress(self) -> BuildProgress:
        """What the executor is told of the build."""
        return BuildProgress(started=self.started, stages=dict(self.stages))


@dataclass
class RepoRef:
    """The repository the workspace is cloned from."""

    slug: str
    clone_url: str = ""


@dataclass
class StagePayload:
    """A claimed stage with everything its agent needs to run it.

    ``secrets`` holds the values of the secrets the spec's steps reference, under the names of
    those references (``<step index>/<name>``); ``environ`` holds variables for every step that
    win over the agent's own globals (the server sends none today). ``registries`` holds the
    credentials the stage's images are pulled with (``runner.pipeline.registry_auth``): only
    those of hosts the stage's images are on, never logged, never stored. ``withheld`` names,
    by step (or service) name, each secret the step asked for and does not get, with why
    (never a value); an agent prints them at the step's start. Agents older than the field
    ignore it.
    """

    stage: StageRef
    build: BuildRef
    repo: RepoRef
    context: BuildContext
    spec: StageSpec
    secrets: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    registries: list[RegistryAuth] = field(default_factory=list)
    withheld: dict[str, dict[str, str]] = field(default_factory=dict)

    def step_ids(self) -> dict[str, int]:
        """The id of each step of the stage by its name."""
        return {step.name: step.id for step in self.stage.steps}

    def to_json(self) -> bytes:
        """The payload as the JSON the RPC answers a claim with."""
        return encode_json(self)

    @classmethod
    def from_json(cls, data: str | bytes) -> StagePayload:
        """Read a claim's answer; raises ``PayloadError`` (with ``stage_id`` when the stage's
        id could be read, so the agent can report the stage it cannot run)."""
        try:
            return decode(cls, data, "the claimed stage's payload", strict=True)
        except PayloadError as exc:
            exc.stage_id = _stage_id(data)
            raise


def _stage_id(data: str | bytes) -> int | None:
    """The stage id of a payload that did not decode, when it has one."""
    try:
        stage_id = json.loads(data)["stage"]["id"]
    except (ValueError, TypeError, KeyError):
        return None
    return stage_id if isinstance(stage_id, int) and not isinstance(stage_id, bool) else None
