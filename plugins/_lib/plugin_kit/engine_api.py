"""The Docker Engine API over its unix socket, with ``http.client`` only.

``EngineClient`` speaks to the host engine through the socket the runner mounts into the step
(``/var/run/docker.sock``, or ``DOCKER_HOST=unix://...``). Streaming endpoints (build, push,
pull) yield their JSON messages; an ``{"error": ...}`` message raises ``EngineAPIError``.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import urllib.parse
from collections.abc import Iterator
from typing import IO

DEFAULT_SOCKET = "/var/run/docker.sock"


class EngineAPIError(Exception):
    """The engine refused a call or reported an error; ``status`` is the HTTP status (0: stream)."""

    def __init__(self, message: str, status: int = 0):
        self.status = status
        super().__init__(message)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


def socket_path(environ: dict[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    host = environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return DEFAULT_SOCKET


def registry_auth_header(username: str, password: str, server: str) -> str:
    """The ``X-Registry-Auth`` value for push and pull (base64url JSON)."""
    raw = json.dumps({"username": username, "password": password, "serveraddress": server})
    return base64.urlsafe_b64encode(raw.encode()).decode()


class EngineClient:
    """One engine reached through a unix socket; each call opens its own connection.

    Safe to use from one thread at a time per call; calls do not share state.
    """

    def __init__(self, path: str | None = None, timeout: float | None = 300.0):
        self.path = path or socket_path()
        self.timeout = timeout
        if not os.path.exists(self.path):
            raise EngineAPIError(
                f"Docker socket {self.path} not found: the step needs the host engine's socket "
                "mounted (an image on the agent's privileged-plugin list, or a trusted repository)"
            )

    def _send(self, method, path, query=None, body=None, headers=None, timeout=-1.0):
        conn = _UnixConnection(self.path, self.timeout if timeout == -1.0 else timeout)
        if query:
            items = {k: v for k, v in query.items() if v is not None and v != ""}
            path += "?" + urllib.parse.urlencode(items)
        all_headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=all_headers)
        return conn, conn.getresponse()

    def call(self, method: str, path: str, query=None, body=None, headers=None):
        """One call; the decoded JSON answer (or None when empty). Non-2xx raises."""
        conn, resp = self._send(method, path, query, body, headers)
        try:
            data = resp.read()
        finally:
            conn.close()
        if resp.status >= 300:
            raise EngineAPIError(_message(data) or f"engine answered {resp.status}", resp.status)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")

    def stream(
        self,
        method: str,
        path: str,
        query=None,
        body: bytes | IO[bytes] | None = None,
        headers=None,
    ) -> Iterator[dict]:
        """Yield the JSON messages of a streaming endpoint; an error message raises."""
        conn, resp = self._send(method, path, query, body, headers, timeout=None)
        try:
            if resp.status >= 300:
                raise EngineAPIError(
                    _message(resp.read()) or f"engine answered {resp.status}", resp.status
                )
            decoder = json.JSONDecoder()
            buffer = ""
            while True:
                chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not chunk:
                    break
                buffer += chunk.decode("utf-8", "replace")
                while True:
                    buffer = buffer.lstrip()
                    if not buffer:
                        break
                    try:
                        message, end = decoder.raw_decode(buffer)
                    except ValueError:
                        break
                    buffer = buffer[end:]
                    if isinstance(message, dict) and message.get("error"):
                        raise EngineAPIError(str(message["error"]).strip())
                    yield message
        finally:
            conn.close()


def _message(data: bytes) -> str:
    try:
        return str(json.loads(data).get("message", "")).strip()
    except (ValueError, AttributeError):
        return data.decode("utf-8", "replace").strip()
