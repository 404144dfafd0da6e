"""What a deploy step reports about its deployment, and the rule that checks it.

In every step of a build with a target, the agent sets ``RUNNER_DEPLOY_REPORT`` to
``/run/runner/deployment.json`` (the directory exists, writable by any user). A step may write
one JSON object there::

    {"state": "canary", "strategy": "canary", "traffic_share": 10,
     "image": "registry/app:1.3.0-a64aded-r7", "message": "1 of 10 replicas on 1.3.0"}

Every key is optional; unknown keys are refused. No text may hold control characters (C1
included), ``image`` no line break or tab either; those of ``message`` become spaces. After the
step's container exits the agent reads the file (at most ``MAX_REPORT_BYTES``; none: nothing
reported), checks it with ``parse_report`` (a bad one is a warning in the step's log) and sends
it with the step's update; the server checks it again (``parse_report``: the agent is not
trusted) and writes it into the build's deployment record (``runner.store.deployments``).
"""

from __future__ import annotations

import json
import re
from typing import Any

REPORT_ENV = "RUNNER_DEPLOY_REPORT"
REPORT_DIR = "/run/runner"
REPORT_PATH = f"{REPORT_DIR}/deployment.json"
MAX_REPORT_BYTES = 16 * 1024

STATES = ("canary", "live", "aborted", "rolled-back", "failed")
STRATEGIES = ("rolling", "blue-green", "canary", "webhook")
MAX_IMAGE = 500
MAX_MESSAGE = 2000

# Control characters (C0, DEL, C1 such as the terminal's CSI \x9b), line and paragraph
# separators and lone surrogates: none may reach a log line or ``runner deploy ls``.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# What a message may span lines with; each run of them becomes one space.
_LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029]+")


class ReportError(ValueError):
    """A deploy report that does not follow the contract; the message says what is wrong."""


def parse_report(data: Any) -> dict[str, Any]:
    """The checked report: only the keys given, each of the right type and size.

    Raises ``ReportError`` naming the first wrong key (unknown keys included)."""
    if not isinstance(data, dict):
        raise ReportError("the deploy report must be a JSON object")
    unknown = sorted(str(k) for k in data if k not in _CHECKS)
    if unknown:
        raise ReportError(
            f"unknown key {unknown[0][:40]!r} in the deploy report; known: {', '.join(_CHECKS)}"
        )
    return {key: _CHECKS[key](data[key]) for key in data}


def read_report(raw: bytes) -> dict[str, Any]:
    """``parse_report`` of the file's bytes; ``ReportError`` when they are not a JSON object
    (nested too deeply to be read included): never another error."""
    if len(raw) > MAX_REPORT_BYTES:
        raise ReportError(f"the deploy report is larger than {MAX_REPORT_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReportError(f"the deploy report is not valid JSON: {exc}") from None
    except RecursionError:
        raise ReportError("the deploy report is nested too deeply to be read") from None
    return parse_report(data)


def describe(report: dict[str, Any]) -> str:
    """The report as one line for the step's log: ``canary (canary, 10% of traffic) image ...``."""
    details = [str(report["strategy"])] if report.get("strategy") else []
    if report.get("traffic_share") is not None:
        details.append(f"{report['traffic_share']}% of traffic")
    text = str(report.get("state") or "reported")
    if details:
        text += f" ({', '.join(details)})"
    if report.get("image"):
        text += f" image {report['image']}"
    if report.get("message"):
        text += f": {report['message']}"
    return text


def _shown(value: Any) -> str:
    """A wrong value for a message: text and numbers themselves (cut), else their type (the
    repr of a deeply nested list would recurse as deep)."""
    if value is None or isinstance(value, str | int | float):
        return f"{value!r:.40}"
    return type(value).__name__


def _choice(key: str, allowed: tuple[str, ...]) -> Any:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ReportError(f"{key} must be one of {', '.join(allowed)}, not {_shown(value)}")
        return str(value)

    return check


def _share(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ReportError(f"traffic_share must be a number from 0 to 100, not {_shown(value)}")
    return round(value)


def _text(key: str, limit: int, *, one_line: bool = False) -> Any:
    """Text of at most ``limit`` characters, no control characters; with ``one_line`` line
    breaks and tabs become spaces first, else they are refused too."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ReportError(f"{key} must be text, not {type(value).__name__}")
        if len(value) > limit:
            raise ReportError(f"{key} is longer than {limit} characters")
        text = _LINE_BREAKS.sub(" ", value) if one_line else value
        if _CONTROL.search(text):
            raise ReportError(f"{key} must not contain control characters or line breaks")
        return text

    return check


_CHECKS = {
    "state": _choice("state", STATES),
    "strategy": _choice("strategy", STRATEGIES),
    "traffic_share": _share,
    "image": _text("image", MAX_IMAGE),
    "message": _text("message", MAX_MESSAGE, one_line=True),
}
