"""The YAML model: what users wrote, read from any of the three dialects into one shape.

Kept apart from the compiled spec (``spec.py``): this model still holds conditions, settings
and source lines; ``compile`` turns it into what the engine runs for one build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.pipeline.conditions import When

DRONE = "drone"  # Drone 1.x, `kind: pipeline` documents
DRONE08 = "drone08"  # Drone 0.5-0.8, top-level `pipeline:` map
WOODPECKER = "woodpecker"  # Woodpecker workflows (and their legacy `pipeline:` form)


@dataclass
class Volume:
    """A step volume: ``source`` is a pipeline volume name or a host path (0.8 ``a:b``)."""

    source: str
    target: str
    line: int = 0
    read_only: bool = False


@dataclass
class Step:
    """One step or service as written."""

    name: str
    path: str  # field path of the step, for issues: steps[2], pipeline.build
    line: int = 0
    image: str = ""
    commands: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    environment: dict[str, Any] = field(default_factory=dict)  # text or {"from_secret": x}
    secrets: list[tuple[str, str]] = field(default_factory=list)  # (env name, secret name)
    settings: dict[str, Any] = field(default_factory=dict)
    when: When = field(default_factory=When)
    depends_on: list[str] | None = None
    group: str = ""
    detach: bool = False
    failure_ignored: bool = False
    privileged: bool = False
    volumes: list[Volume] = field(default_factory=list)
    cache: list[str] = field(default_factory=list)
    network_mode: str = ""
    pull: str = ""
    user: str = ""
    working_dir: str = ""
    shm_size: int = 0
    dns: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # key -> line, for issues


@dataclass
class Stage:
    """One pipeline document (Drone) or workflow (Woodpecker), or a 0.8 file."""

    name: str
    file: str
    dialect: str
    line: int = 0
    path: str = ""  # field path prefix of the document ("" or "[2]" for the 3rd document)
    kind: str = "pipeline"
    legacy: bool = False  # 0.8 or Woodpecker's `pipeline:` form: implicit plugin images
    type: str = "docker"
    platform: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    services: list[Step] = field(default_factory=list)
    trigger: When = field(default_factory=When)
    depends_on: list[str] = field(default_factory=list)
    run_policy_statuses: list[str] = field(default_factory=list)  # trigger.status / runs_on
    clone_disable: bool = False
    clone_steps: list[str] = field(default_factory=list)  # the user's clone steps, run first
    clone_depth: int = 0
    clone_tags: bool = False
    clone_submodules: bool = False
    clone_skip_verify: bool = False
    workspace_base: str = ""
    workspace_path: str = ""
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {temp|host}
    environment: dict[str, Any] = field(default_factory=dict)
    cache: list[str] = field(default_factory=list)
    pull_secrets: list[str] = field(default_factory=list)  # Drone's image_pull_secrets
    matrix: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    def all_steps(self) -> list[Step]:
        return self.services + self.steps
