"""A build's live state as one JSON-able dict: what ``state.json`` answers, what the change
watcher compares and what the event stream pushes (``runner.server.changes``).

The same for every viewer (buttons, which depend on who looks, are not in it), so one read of a
build serves all its viewers.
"""

from __future__ import annotations

from typing import Any

from runner.core import Build
from webui import data
from webui.formatting import duration


def build_state(build: Build) -> dict[str, Any]:
    """Statuses, times (unix seconds, 0 when not yet), durations and wait reasons of the build,
    its stages and steps; each step also with its exit code and error text."""
    waits = data.wait_reasons(build)
    return {
        "build_id": build.id,
        "number": build.number,
        "status": build.status,
        "started": build.started,
        "finished": build.finished,
        "duration": duration(build.started, build.finished),
        "stages": [
            {
                "id": stage.id,
                "number": stage.number,
                "name": stage.name,
                "status": stage.status,
                "started": stage.started,
                "finished": stage.finished,
                "duration": duration(stage.started, stage.finished),
                "why": waits.get(stage.id, ""),
                "steps": [
                    {
                        "id": step.id,
                        "number": step.number,
                        "name": step.name,
                        "status": step.status,
                        "exit_code": step.exit_code,
                        "error": step.error,
                        "started": step.started,
                        "finished": step.finished,
                        "duration": duration(step.started, step.finished),
                    }
                    for step in stage.steps
                ],
            }
            for stage in build.stages
        ],
    }
