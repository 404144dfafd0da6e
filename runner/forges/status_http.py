"""The HTTP part every commit status client shares: one POST with a timeout and clear errors."""

from __future__ import annotations

from typing import Any

import requests

from runner.errors import RunnerError

DEFAULT_TIMEOUT = 10.0


class StatusError(RunnerError):
    """A forge refused or did not answer a commit status; logged, never fails a build."""

    http_status = 502


def post_json(
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    *,
    session: requests.Session | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """POST ``payload`` as JSON; raise ``StatusError`` on a network error or a non-2xx answer."""
    sender = session or requests
    try:
        resp = sender.post(url, json=payload, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise StatusError(f"commit status to {url} failed: {exc}; check the forge URL") from exc
    if not 200 <= resp.status_code < 300:
        raise StatusError(
            f"commit status to {url} answered {resp.status_code}: {resp.text[:200]}; "
            "check the repository's forge token and its permissions"
        )
