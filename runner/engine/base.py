"""The engine protocol: the three calls through which a stage's containers are run.

Call order for one stage: ``setup(stage)`` once, then ``run_step`` for services and steps
(several at a time from different threads when steps run in parallel), then ``destroy(stage)``.
``destroy`` never raises, is safe after a failed ``setup`` and safe to call twice.
"""

from __future__ import annotations

from typing import Callable, Protocol

from runner.pipeline.spec import StageSpec, StepResult, StepSpec

# Receives one log line of a step (without the trailing newline), already masked.
LogSink = Callable[[str], None]


class Engine(Protocol):
    def setup(self, stage: StageSpec) -> None:
        """Create the stage's workspace volume, temp volumes and network."""

    def run_step(
        self, stage: StageSpec, step: StepSpec, env: dict[str, str], log: LogSink
    ) -> StepResult:
        """Run one container to its end (or start it, for services and detached steps).

        ``env`` is the step's full environment with secrets resolved. Blocks until the
        container exits; ``kill_step`` from another thread makes it return early.
        """

    def kill_step(self, stage: StageSpec, step: StepSpec) -> None:
        """Stop a running step's container at once (cancel, timeout)."""

    def destroy(self, stage: StageSpec) -> None:
        """Remove every container, volume (but cache volumes) and network of the stage."""
