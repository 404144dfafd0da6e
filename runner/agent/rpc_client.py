"""The agent's side of the RPC (``runner.server.rpc``): plain HTTP with an agent token.

``RpcClient`` is thread-safe (one ``requests.Session`` per thread). Transport failures raise
``RpcUnavailable`` so the runtime can back off and retry; answers that say the request itself
was wrong raise ``RpcRefused``.
"""

from __future__ import annotations

import threading
from typing import Any

import requests

from runner.errors import RunnerError
from runner.pipeline.payload import StagePayload


class RpcUnavailable(RunnerError):
    """The server could not be reached or answered 5xx; retry later."""


class RpcRefused(RunnerError):
    """The server refused the call (4xx): retrying the same call will not help."""


class RpcClient:
    """Calls the server's ``/rpc/v1`` endpoints for one agent."""

    def __init__(self, server_url: str, token: str, *, timeout: float = 10.0):
        self.base = server_url.rstrip("/") + "/rpc/v1"
        self.token = token
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.token}"
            self._local.session = session
        return session

    def _post(self, path: str, *, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        try:
            resp = self._session().post(self.base + path, timeout=timeout or self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise RpcUnavailable(f"server {self.base} unreachable: {exc}") from exc
        if resp.status_code >= 500:
            raise RpcUnavailable(f"server answered {resp.status_code} on {path}")
        if resp.status_code >= 400:
            try:
                reason = resp.json().get("error", resp.text)
            except ValueError:
                reason = resp.text
            raise RpcRefused(f"server refused {path}: {resp.status_code} {reason}")
        return resp

    def claim(self, wait: float = 30.0, **announce: Any) -> StagePayload | None:
        """Long-poll for a stage; the claimed stage's payload, or None after ``wait`` seconds.

        ``announce`` (labels, capacity, version) updates what the server knows of the agent.
        A payload that does not decode raises ``PayloadError`` (its ``stage_id`` set when the
        stage's id could be read: the stage is this agent's then, and must be reported).
        """
        resp = self._post("/claim", json={"timeout": wait, **announce}, timeout=wait + 15)
        if resp.status_code == 204:
            return None
        return StagePayload.from_json(resp.content)

    def report_health(self, unhealthy: str) -> None:
        """Tell the server why this agent cannot run stages now (``""``: it can again)."""
        # The server keeps 500 characters of a reason and refuses a longer one.
        self._post("/health", json={"unhealthy": unhealthy[:500]})

    def heartbeat(self, stage_id: int) -> dict[str, bool]:
        """Renew the stage's lease; ``{"cancel": ..., "lost": ...}`` from the server."""
        answer: dict[str, bool] = self._post(f"/stages/{stage_id}/heartbeat").json()
        return answer

    def update_step(self, stage_id: int, step_id: int, fields: dict[str, Any]) -> None:
        """Report a step's status, exit code, times or error."""
        self._post(f"/stages/{stage_id}/steps/{step_id}", json=fields)

    def upload_logs(self, step_id: int, seq: int, data: bytes, elapsed_ms: int) -> None:
        """Upload one batch of log lines (newline-terminated UTF-8) as chunk ``seq``, gathered
        ``elapsed_ms`` after the step started."""
        self._post(
            f"/steps/{step_id}/logs",
            params={"seq": seq, "elapsed_ms": elapsed_ms},
            data=data,
            headers={"Content-Type": "text/plain; charset=utf-8"},
            timeout=max(self.timeout, 30),
        )

    def handback(self, stage_id: int, reason: str) -> None:
        """Give a stage this agent will not finish back to the queue, with the reason."""
        self._post(f"/stages/{stage_id}/handback", json={"reason": reason})

    def stage_done(
        self,
        stage_id: int,
        status: str,
        error: str = "",
        *,
        steps: list[dict[str, Any]] | None = None,
    ) -> None:
        """Report the stage's final status, after the step updates in ``steps`` (each
        ``{"id": step_id, "status": ..., ...}``) that were not sent on their own."""
        body: dict[str, Any] = {"status": status, "error": error}
        if steps:
            body["steps"] = steps
        self._post(f"/stages/{stage_id}/done", json=body)
