"""The deploy report: one JSON object the runner reads into the deployment record.

When ``RUNNER_DEPLOY_REPORT`` names a path, the plugin writes there, at its end and whatever the
outcome, what it left running: ``{"state", "strategy", "traffic_share", "image", "message"}``.
Without the variable it writes nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from plugin_kit.output import PluginError

REPORT_VARIABLE = "RUNNER_DEPLOY_REPORT"
# canary: the new version serves a share next to the live one; live: it serves everything;
# aborted: a canary was removed, the live version untouched; rolled-back: the new version failed
# and the previous one runs again; failed: the deploy stopped with nothing put back.
STATES = ("canary", "live", "aborted", "rolled-back", "failed")


@dataclass(frozen=True)
class DeployReport:
    """What a deploy left running: ``traffic_share`` is the percent (0-100) of the replicas
    that serve the new version, ``message`` one line for people."""

    state: str
    strategy: str
    traffic_share: int
    image: str
    message: str

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"deploy report state {self.state!r} is not one of {STATES}")
        if not 0 <= self.traffic_share <= 100:
            raise ValueError(f"traffic share {self.traffic_share} is not a percent")


class DeployFailed(PluginError):
    """A deploy that failed the step; ``report`` says what runs now (rolled back, aborted...)."""

    def __init__(self, message: str, report: DeployReport):
        super().__init__(message)
        self.report = report


def share(new: int, old: int) -> int:
    """Percent of ``new + old`` replicas that are new, rounded (1 next to 3 is 25)."""
    total = new + old
    return round(100 * new / total) if total else 0


def write_report(report: DeployReport, environ: dict[str, str]) -> None:
    """Write ``report`` as JSON to the path in ``RUNNER_DEPLOY_REPORT`` (parents created);
    nothing when the variable is unset or empty. The file is replaced whole, never half
    written: a reader sees the old report or the new one."""
    path = environ.get(REPORT_VARIABLE, "")
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    body = asdict(report)
    body["message"] = " ".join(report.message.split())  # one line
    partial.write_text(json.dumps(body) + "\n", encoding="utf-8")
    os.replace(partial, target)
