"""Small HTTP client over ``http.client``: one request, optional retries, status check.

Used by the deploy and notify plugins to call webhooks, and by sonar for the web API.
"""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.parse
from dataclasses import dataclass

from plugin_kit.output import PluginError, say


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    insecure: bool = False,
) -> Response:
    """Send one request and read the whole answer; ``OSError`` on a network failure."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PluginError(f"invalid URL {url!r}: it must start with http:// or https://")
    if parts.scheme == "https":
        context = ssl._create_unverified_context() if insecure else ssl.create_default_context()
        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    all_headers = {"User-Agent": "pipeline-runner-plugin"}
    if parts.username:
        import base64

        raw = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        all_headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
    all_headers.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        return Response(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})
    finally:
        conn.close()


def call_with_retries(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    expected: set[int] | None = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    timeout: float = 30.0,
    insecure: bool = False,
    label: str = "",
) -> Response:
    """Call until an expected status comes back, at most ``1 + retries`` times.

    ``expected`` empty or None accepts any 2xx. Network errors and other statuses are retried,
    waiting ``retry_delay`` doubled each time; the last failure raises ``PluginError``.
    """
    label = label or _safe_url(url)
    attempts = max(0, retries) + 1
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            resp = request(method, url, body, headers, timeout=timeout, insecure=insecure)
            ok = resp.status in expected if expected else 200 <= resp.status < 300
            if ok:
                say(f"{method} {label}: {resp.status}")
                return resp
            last = f"answered {resp.status}: {resp.text()[:200].strip()}"
        except OSError as exc:
            last = f"failed: {exc}"
        if attempt < attempts:
            delay = retry_delay * (2 ** (attempt - 1))
            say(f"{method} {label} {last}; retry {attempt}/{retries} in {delay:g}s")
            time.sleep(delay)
    want = ", ".join(str(s) for s in sorted(expected)) if expected else "2xx"
    raise PluginError(f"{method} {label} {last} (expected {want}, {attempts} attempt(s))")


def _safe_url(url: str) -> str:
    """The URL without credentials and query string (tokens often live there)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"
