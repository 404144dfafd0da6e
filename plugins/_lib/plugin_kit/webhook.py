"""A webhook call read from the settings of plugins/webhook, signed with HMAC, with retries.

Shared by the deploy and notify plugins (and ``call_with_retries`` by their chat targets); the
HTTP itself is ``requests``. Settings: ``urls`` (or ``url``), ``method``,
``content_type``, ``template`` (body; ``{{ build.number }}`` and ``${DRONE_TAG}`` filled in),
``headers``, ``username``/``password``, ``signature_secret`` and ``signature_header``,
``retries``, ``retry_delay``, ``expected_status`` (``valid_response_codes``), ``skip_verify``,
``timeout``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import requests

from plugin_kit.build import build_vars, json_escape, render
from plugin_kit.output import PluginError, say
from plugin_kit.settings import SettingError, Settings

DEFAULT_SIGNATURE_HEADER = "X-Pipeline-Signature"


@dataclass
class Webhook:
    urls: list[str]
    method: str = "POST"
    content_type: str = "application/json"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    retry_delay: float = 1.0
    expected: set[int] = field(default_factory=set)
    insecure: bool = False
    timeout: float = 30.0


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def default_body(environ: dict[str, str]) -> dict[str, Any]:
    """The JSON sent when no template is set: repository, build and commit, like plugins/webhook."""
    v = build_vars(environ)
    return {
        "repo": {
            "owner": v["repo.owner"],
            "name": v["repo.name"],
            "full_name": v["repo.full_name"],
        },
        "build": {
            "number": v["build.number"],
            "status": v["build.status"],
            "event": v["build.event"],
            "link": v["build.link"],
            "branch": v["build.branch"],
            "tag": v["build.tag"],
            "deploy_to": v["build.deploy_to"],
            "commit": v["build.commit"],
            "message": v["build.message"],
            "author": v["build.author"],
        },
    }


def read_webhook(
    s: Settings,
    body: dict[str, Any] | None = None,
    template_names: tuple[str, ...] = ("template", "body"),
    url_names: tuple[str, ...] = ("urls", "url", "webhook_url"),
) -> Webhook:
    """Build the call from the settings; ``body`` is the JSON to send when no template is set.

    Raises ``SettingError`` for a missing URL or a template that does not give valid JSON.
    """
    urls = s.list(*url_names)
    if not urls:
        s.require(*url_names, hint="the address(es) to call, comma-separated")
    for url in urls:
        if "?" in url:  # tokens often travel in the query string
            s.secret(*url_names)
            break
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise SettingError(f"setting 'urls': {url!r} must start with http:// or https://")
    content_type = s.get("content_type", default="application/json") or "application/json"
    template = s.get(*template_names)
    variables = build_vars(s.environ)
    if template:
        escape = json_escape if "json" in content_type else None
        text = render(template, variables, s.environ, escape=escape)
        if "json" in content_type:
            try:
                json.loads(text)
            except ValueError as exc:
                raise SettingError(
                    f"setting 'template' does not give valid JSON after filling in: {exc}"
                ) from None
        payload = text.encode()
    else:
        payload = json.dumps(body if body is not None else default_body(s.environ)).encode()
    headers = {"Content-Type": content_type}
    for key, value in s.map("headers").items():
        headers[key] = render(value, variables, s.environ)
    username = s.get("username")
    password = s.secret("password")
    if username:
        raw = f"{username}:{password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    secret = s.secret("signature_secret", "hmac_secret", "signing_secret")
    if secret:
        header = s.get("signature_header", default=DEFAULT_SIGNATURE_HEADER)
        headers[header] = sign(secret, payload)
    expected = {int(c) for c in s.list("expected_status", "valid_response_codes") if c.isdigit()}
    return Webhook(
        urls=urls,
        method=(s.get("method", default="POST") or "POST").upper(),
        content_type=content_type,
        body=payload,
        headers=headers,
        retries=s.int("retries", "retry", default=0),
        retry_delay=s.float("retry_delay", default=1.0),
        expected=expected,
        insecure=s.bool("skip_verify", "insecure"),
        timeout=s.float("timeout", default=30.0),
    )


def send(hook: Webhook, debug: bool = False) -> list[requests.Response]:
    """Call every URL in order; the first that never gives an expected status raises."""
    answers = []
    for url in hook.urls:
        body = hook.body if hook.method not in ("GET", "HEAD") else None
        resp = call_with_retries(
            hook.method,
            url,
            body,
            hook.headers,
            expected=hook.expected,
            retries=hook.retries,
            retry_delay=hook.retry_delay,
            timeout=hook.timeout,
            insecure=hook.insecure,
        )
        if debug:
            say(f"answer: {resp.text[:500]}")
        answers.append(resp)
    return answers


USER_AGENT = "pipeline-runner-plugin"


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
) -> requests.Response:
    """Call until an expected status comes back, at most ``1 + retries`` times.

    ``expected`` empty or None accepts any 2xx. Network errors and other statuses are retried,
    waiting ``retry_delay`` doubled each time; the last failure raises ``PluginError``. Log
    lines name the URL without its credentials and query string (tokens often live there).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PluginError(f"invalid URL {url!r}: it must start with http:// or https://")
    label = label or _safe_url(url)
    attempts = max(0, retries) + 1
    last = ""
    with requests.Session() as session:
        session.headers["User-Agent"] = USER_AGENT
        for attempt in range(1, attempts + 1):
            try:
                # A redirect is an answer like any other: the expected status decides.
                resp = session.request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    timeout=timeout,
                    verify=not insecure,
                    allow_redirects=False,
                )
                ok = resp.status_code in expected if expected else 200 <= resp.status_code < 300
                if ok:
                    say(f"{method} {label}: {resp.status_code}")
                    return resp
                last = f"answered {resp.status_code}: {resp.text[:200].strip()}"
            except requests.RequestException as exc:
                last = f"failed: {failure_reason(exc)}"
            if attempt < attempts:
                delay = retry_delay * (2 ** (attempt - 1))
                say(f"{method} {label} {last}; retry {attempt}/{retries} in {delay:g}s")
                time.sleep(delay)
    want = ", ".join(str(s) for s in sorted(expected)) if expected else "2xx"
    raise PluginError(f"{method} {label} {last} (expected {want}, {attempts} attempt(s))")


def failure_reason(exc: requests.RequestException) -> str:
    """A network failure in the socket's own words (``[Errno 111] Connection refused``).

    The message of a ``requests`` error quotes the URL with its query string, where a token
    may travel; the cause it wraps does not.
    """
    if isinstance(exc, requests.Timeout):
        return "timed out"
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            break
        if isinstance(cause, OSError) and cause.strerror:
            return str(cause)
        reason = getattr(cause, "reason", None)
        nested = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = (
            (reason if isinstance(reason, BaseException) else nested)
            or cause.__cause__
            or cause.__context__
        )
    return type(exc).__name__


def _safe_url(url: str) -> str:
    """The URL without credentials and query string (tokens often live there)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"
