"""Template filters: durations, relative times and ISO timestamps of the store's unix times."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from webui import webui_bp


def duration(started: float, finished: float = 0.0, now: float | None = None) -> str:
    """``1m 05s`` between start and finish (or now while running); "" before the start."""
    if not started:
        return ""
    end = finished or (now if now is not None else time.time())
    secs = max(0, int(end - started))
    hours, rest = divmod(secs, 3600)
    mins, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {mins:02d}m"
    if mins:
        return f"{mins}m {secs:02d}s"
    return f"{secs}s"


def ago(ts: float, now: float | None = None) -> str:
    """``3 min ago`` style text for a unix time; "" for 0."""
    if not ts:
        return ""
    delta = max(0, int((now if now is not None else time.time()) - ts))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if delta >= size:
            return f"{delta // size} {unit} ago"
    return "just now"


def iso(ts: float) -> str:
    """ISO 8601 UTC time for a unix time; "" for 0."""
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


webui_bp.add_app_template_filter(duration, "ui_duration")
webui_bp.add_app_template_filter(ago, "ui_ago")
webui_bp.add_app_template_filter(iso, "ui_iso")
# The server's clock for the pages' ticking times (glance.js), which the browser's may not match.
webui_bp.add_app_template_global(time.time, "ui_now")
