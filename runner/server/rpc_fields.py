"""The agent RPC's fields, checked for type and range before any of them is used.

Agents are programs, but a token can be held by anyone: a wrong type, a huge number, NaN or a
NUL must give 400 with the field's name, never a 500 from the database or the arithmetic.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from runner.core import DONE_STATUSES, RUNNING
from runner.deploy_report import ReportError, parse_report
from runner.errors import BadRequest
from runner.logtext import MAX_ELAPSED_MS
from runner.services.agents import MAX_CAPACITY

MAX_CLAIM_WAIT = 60.0  # a longer wait asked for is cut to this
MAX_ID = 2**63 - 1  # the databases' integer keys
MAX_SEQ = 2**62
MAX_TIME = 1e11  # seconds since 1970: year 5138
STEP_STATUSES = DONE_STATUSES | {RUNNING}
MAX_LABELS = 100
MAX_LABEL_TEXT = 200


class ClaimRequest(NamedTuple):
    """A claim's body: how long to wait, and what the agent announces (None: not sent)."""

    timeout: float
    labels: dict[str, str] | None
    capacity: int | None
    version: str | None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number(data: dict[str, Any], key: str, *, low: float, high: float, default: float) -> float:
    """``data[key]`` as a finite number within [low, high] (``default`` when absent)."""
    value = data.get(key, default)
    finite = _is_int(value) or (isinstance(value, float) and math.isfinite(value))
    if not finite:
        raise BadRequest(f"{key} must be a number, not {type(value).__name__} {value!r:.40}")
    if not low <= value <= high:
        raise BadRequest(f"{key} must be between {low:g} and {high:g}")
    return float(value)


def whole(data: dict[str, Any], key: str, *, low: int, high: int) -> int | None:
    """``data[key]`` as a whole number within [low, high], or None when absent."""
    value = data.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise BadRequest(f"{key} must be a whole number, not {type(value).__name__}")
    if not low <= value <= high:
        raise BadRequest(f"{key} must be between {low} and {high}")
    return int(value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def text(data: dict[str, Any], key: str, *, limit: int) -> str:
    """``data[key]`` as text of at most ``limit`` characters ("" when absent)."""
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be text, not {type(value).__name__}")
    return storable(value, key, limit=limit)


def storable(value: str, what: str, *, limit: int) -> str:
    """``value`` when the databases can store it: at most ``limit`` characters, no NUL, no
    lone surrogate; ``BadRequest`` naming ``what`` otherwise. The rule of every RPC text."""
    if len(value) > limit:
        raise BadRequest(f"{what} is longer than {limit} characters")
    if "\x00" in value or _SURROGATE.search(value):
        # Neither can be stored: PostgreSQL refuses NUL in text, UTF-8 has no lone surrogates.
        raise BadRequest(f"{what} must not contain NUL or lone surrogate characters")
    return value


def record_id(value: Any, what: str) -> int:
    """A stage or step id from a URL or a body: a whole number the database can hold."""
    if not _is_int(value) or not 1 <= value <= MAX_ID:
        raise BadRequest(f"{what} id must be a whole number between 1 and {MAX_ID}")
    return int(value)


def seq_number(raw: str | None) -> int:
    """The ``?seq=`` of a log upload: a whole number from 0."""
    if raw is None or not raw.isascii() or not raw.isdigit() or int(raw) > MAX_SEQ:
        raise BadRequest(f"a log upload needs ?seq=<whole number from 0 to {MAX_SEQ}>")
    return int(raw)


def elapsed_millis(raw: str | None) -> int | None:
    """The optional ``?elapsed_ms=`` of a log upload: the chunk's time since its step started,
    a whole number of milliseconds; None when absent (an agent from before it existed)."""
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_ELAPSED_MS:
        raise BadRequest(f"elapsed_ms must be a whole number from 0 to {MAX_ELAPSED_MS}")
    return int(raw)


def claim_request(data: dict[str, Any]) -> ClaimRequest:
    """The checked body of ``POST /claim``."""
    timeout = number(data, "timeout", low=0, high=86400, default=30)
    return ClaimRequest(
        timeout=min(timeout, MAX_CLAIM_WAIT),
        labels=_labels(data.get("labels")),
        capacity=whole(data, "capacity", low=1, high=MAX_CAPACITY),
        version=text(data, "version", limit=100) if "version" in data else None,
    )


def _labels(raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) > MAX_LABELS:
        raise BadRequest(f"labels must be an object of at most {MAX_LABELS} text values")
    for key, value in raw.items():
        if not isinstance(value, str) or not key:
            raise BadRequest(f"labels: {key!r:.40} needs a name and a text value")
        storable(key, f"labels: the name {key!r:.40}", limit=MAX_LABEL_TEXT)
        storable(value, f"labels: the value of {key!r:.40}", limit=MAX_LABEL_TEXT)
    return dict(raw)


def step_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The checked fields of a step update: status, and exit code, times, error and the
    step's deploy report (``deploy``) when sent."""
    status = data.get("status")
    if not isinstance(status, str) or status not in STEP_STATUSES:
        raise BadRequest(
            f"a step update needs a status among {', '.join(sorted(STEP_STATUSES))}, "
            f"not {status!r:.40}"
        )
    fields: dict[str, Any] = {"status": status}
    exit_code = whole(data, "exit_code", low=-(2**31), high=2**32)
    if exit_code is not None:
        fields["exit_code"] = exit_code
    for key in ("started", "finished"):
        if data.get(key) is not None:
            fields[key] = number(data, key, low=0, high=MAX_TIME, default=0)
    if "error" in data:
        fields["error"] = text(data, "error", limit=64 * 1024)
    if data.get("deploy") is not None:
        fields["deploy"] = deploy_fields(data["deploy"])
    return fields


def deploy_fields(data: Any) -> dict[str, Any]:
    """The checked deploy report of a step update (``runner.deploy_report.parse_report``)."""
    try:
        return parse_report(data)
    except ReportError as exc:
        raise BadRequest(f"deploy: {exc}") from None
