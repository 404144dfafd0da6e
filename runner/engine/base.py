"""The engine protocol: the calls through which a stage's containers are run.

Call order for one stage: ``run = setup(stage)`` once, then optionally ``copy_to_workspace``
(the clone), then ``run_step`` for services and steps (several at a time from different threads
when steps run in parallel; ``kill_step`` from any thread), then ``destroy(run)``. ``setup``
hands out the run id every later call of that stage passes: engines key their state on it, so
one engine serves any number of stages at once, even two of the same name. A ``setup`` that
fails removes what it made before it raises. ``destroy`` never raises and is safe to call twice.
``cleanup_leftovers`` belongs to the agent's start, before any stage runs.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NewType, Protocol

from runner.pipeline.registry_auth import RegistryAuth
from runner.pipeline.spec import StageSpec, StepResult, StepSpec

# Receives one log line of a step (without the trailing newline), already masked.
LogSink = Callable[[str], None]

# The id ``Engine.setup`` hands out for one run of a stage; every later call names the run by it.
RunId = NewType("RunId", str)


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class StepLog:
    """One step's log as a log sink factory hands it to the executor: ``write(line)`` for
    each line (from the step's thread), then ``close()`` once, after the step's last line
    (for services and detached steps: after ``destroy``, since they log until then)."""

    write: LogSink
    close: Callable[[], None] = _nothing


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
    """What runs a stage's containers: ``DockerEngine``, or ``FakeEngine`` in unit tests."""

    def ping(self) -> None:
        """Return when the engine answers; raise ``EngineError`` with the reason if not."""

    def setup(self, stage: StageSpec, registries: Sequence[RegistryAuth] = ()) -> RunId:
        """Create the stage's workspace volume, temp volumes and network; the run's id.

        ``registries`` are the credentials the run's images are pulled with, each image with
        the first whose host is its registry's (``runner.pipeline.registry_auth.auth_for``).

        Raises ``PolicyError`` before creating anything when a step asks for what the trust
        policy refuses, and ``EngineError`` when the engine cannot be reached (after removing
        what it had made).
        """

    def copy_to_workspace(self, run: RunId, src_dir: str) -> None:
        """Copy the files of the local directory ``src_dir`` into the run's workspace."""

    def run_step(self, run: RunId, step: StepSpec, env: dict[str, str], log: LogSink) -> StepResult:
        """Run one container to its end (or start it, for services and detached steps).

        ``env`` is the step's full environment with secrets resolved. Blocks until the
        container exits; ``kill_step`` from another thread makes it return early. A step that
        cannot start (missing image, no shell) returns status ``error`` with the reason; it
        does not raise. When ``env`` sets ``runner.deploy_report.REPORT_ENV``, the report
        file's directory exists in the container before it starts, and what the step wrote
        there comes back in ``StepResult.report`` (at most ``MAX_REPORT_BYTES``).
        """

    def kill_step(self, run: RunId, step: StepSpec) -> None:
        """Stop a running step's container at once (cancel, timeout). Never raises."""

    def destroy(self, run: RunId) -> None:
        """Remove every container, volume (but cache volumes) and network of the run.

        Never raises; a second call, or one for an unknown run, does nothing."""

    def cleanup_leftovers(self, agent_name: str | None = None) -> int:
        """Remove what an interrupted earlier run of agent ``agent_name`` (default: the
        engine's own) left behind, cache volumes excepted; how many resources were removed.

        Call it at agent start only, when no stage of that agent can be running.
        """
