"""The engine protocol: the calls through which a stage's containers are run.

Call order for one stage: ``setup(stage)`` once, then optionally ``copy_to_workspace`` (the
clone), then ``run_step`` for services and steps (several at a time from different threads
when steps run in parallel; ``kill_step`` from any thread), then ``destroy(stage)``. The same
``StageSpec`` object must be passed to every call of one stage: engines key their state on it.
``destroy`` never raises, is safe after a failed ``setup`` and safe to call twice.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Protocol

from runner.pipeline.spec import StageSpec, StepResult, StepSpec

# Receives one log line of a step (without the trailing newline), already masked.
LogSink = Callable[[str], None]

# The environment variable that carries a step's ``commands`` script into its container.
SCRIPT_ENV = "CI_SCRIPT"
# Entrypoint of a step with ``commands``: the script comes from the environment, so no
# quoting of the user's commands is ever needed.
SCRIPT_ENTRYPOINT = ["/bin/sh", "-c", f'eval "${SCRIPT_ENV}"']


def shell_script(commands: list[str]) -> str:
    """One ``set -e`` shell script echoing each command as ``+ cmd`` before running it."""
    lines = ["set -e"]
    for command in commands:
        lines.append(f"printf '%s\\n' {shlex.quote('+ ' + command)}")
        lines.append(command)
    return "\n".join(lines) + "\n"


class Engine(Protocol):
    def setup(self, stage: StageSpec) -> None:
        """Create the stage's workspace volume, temp volumes and network.

        Raises ``PolicyError`` before creating anything when a step asks for what the trust
        policy refuses, and ``EngineError`` when the engine cannot be reached.
        """

    def copy_to_workspace(self, stage: StageSpec, src_dir: str) -> None:
        """Copy the files of the local directory ``src_dir`` into the stage's workspace."""

    def run_step(
        self, stage: StageSpec, step: StepSpec, env: dict[str, str], log: LogSink
    ) -> StepResult:
        """Run one container to its end (or start it, for services and detached steps).

        ``env`` is the step's full environment with secrets resolved. Blocks until the
        container exits; ``kill_step`` from another thread makes it return early. A step that
        cannot start (missing image, no shell) returns status ``error`` with the reason; it
        does not raise.
        """

    def kill_step(self, stage: StageSpec, step: StepSpec) -> None:
        """Stop a running step's container at once (cancel, timeout). Never raises."""

    def destroy(self, stage: StageSpec) -> None:
        """Remove every container, volume (but cache volumes) and network of the stage."""
