"""The forge interface: one ``Forge`` object per forge, and what every forge shares.

A forge (GitHub, GitLab, Gitea, Gogs, the generic webhook) is an instance of a ``Forge``
subclass, registered by name in ``runner.forges.FORGES``; callers look it up by the
repository's ``forge`` and never ask which one it is. A forge offers:

- ``verify(headers, body, secret)``: raises ``runner.errors.Unauthorized`` with the reason when
  the request was not signed with the repository's webhook secret (its ``signing`` scheme);
- ``parse(headers, body) -> BuildContext | None``: the event to build, or None when the request
  is valid but nothing should be built (a deleted branch, a closed pull request, a ping).
  Raises ``runner.errors.BadRequest`` for a body that is not the JSON the forge documents: each
  forge reads the body through its schema (pydantic models on ``runner.forges.payload``), which
  names every field it uses. ``parse_with_reason`` returns ``(event, reason)`` so the hook
  endpoint can say why it ignored one;
- ``status_client(base_url, token)``: reports a build's state as a commit status through the
  forge's API; ``api_base(clone_url)`` is that API's root when the repository names none.

The event is the pipeline's ``BuildContext``, filled with what the delivery says. Everything
here is pure (no I/O) except the status clients, which speak HTTP to ``forge_url``.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from runner.errors import BadRequest, Unauthorized
from runner.forges.payload import load_json
from runner.pipeline.spec import BuildContext

if TYPE_CHECKING:
    import requests

EVENT_PUSH = "push"
EVENT_TAG = "tag"
EVENT_PULL_REQUEST = "pull_request"
EVENT_CUSTOM = "custom"

# A pull request action that changes the code to build; the others (closed, labeled...) are ignored.
PULL_REQUEST_ACTIONS = frozenset({"opened", "synchronize", "reopened"})

ZERO_SHA = "0" * 40


class Headers(Protocol):
    """Request headers: a ``dict`` or Werkzeug's ``Headers`` (case-insensitive ``get``)."""

    def get(self, key: str, /) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


class Ignored(Exception):
    """Raised inside a parser when a valid request asks for no build; carries the reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def header(headers: Headers, name: str) -> str:
    """The value of header ``name`` (case-insensitive), or ``""``."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                return str(candidate)
        return ""
    return str(value)


def hmac_hex(secret: str, body: bytes, algorithm: Callable[..., Any] = hashlib.sha256) -> str:
    """The hex HMAC of ``body`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), body, algorithm).hexdigest()


def compare_secret(given: str, expected: str) -> bool:
    """Whether ``given`` (a header, any characters) equals ``expected``, in constant time.

    Compared as UTF-8 bytes: ``hmac.compare_digest`` refuses non-ASCII ``str`` with a
    ``TypeError``, and a header is whatever bytes the sender chose.
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _require_secret(secret: str) -> None:
    if not secret:
        raise Unauthorized(
            "the repository has no webhook secret; set one and configure it in the forge"
        )


@dataclass(frozen=True)
class HmacSignature:
    """A header holding ``prefix`` + the hex HMAC-SHA256 of the body, keyed with the secret
    (GitHub, Gitea, Gogs, the generic webhook)."""

    header: str
    prefix: str = ""

    def sign(self, body: bytes, secret: str) -> str:
        """The header's value for ``body`` (for tests and tools)."""
        return self.prefix + hmac_hex(secret, body)

    def check(self, headers: Headers, body: bytes, secret: str) -> None:
        """Compare the header in constant time; ``Unauthorized`` naming it when missing or wrong."""
        _require_secret(secret)
        signature = header(headers, self.header)
        if not signature:
            raise Unauthorized(
                f"missing {self.header} header: set the webhook secret in the forge's "
                "webhook settings"
            )
        if self.prefix:
            if not signature.startswith(self.prefix):
                raise Unauthorized(f"{self.header} must start with {self.prefix!r}")
            signature = signature[len(self.prefix) :]
        if not compare_secret(signature.strip().lower(), hmac_hex(secret, body)):
            raise Unauthorized(
                f"{self.header} does not match the body: the webhook secret in the forge differs "
                "from the repository's (see `runner repo ls`)"
            )


@dataclass(frozen=True)
class TokenSignature:
    """A header holding the secret itself (GitLab), compared in constant time."""

    header: str
    forge: str  # the forge's name in the message

    def sign(self, body: bytes, secret: str) -> str:
        """The header's value: the secret, whatever the body."""
        return secret

    def check(self, headers: Headers, body: bytes, secret: str) -> None:
        """Compare the header with the secret; ``Unauthorized`` naming it when missing or wrong."""
        token = header(headers, self.header)
        _require_secret(secret)
        if not token:
            raise Unauthorized(
                f"missing {self.header} header: set the secret token in {self.forge}'s "
                "webhook settings"
            )
        if not compare_secret(token, secret):
            raise Unauthorized(
                f"{self.header} does not match the repository's webhook secret "
                "(see `runner repo ls`)"
            )


class Signing(Protocol):
    """How a forge signs its deliveries (``HmacSignature``, ``TokenSignature``)."""

    @property
    def header(self) -> str:
        """The name of the header that carries the signature."""

    def sign(self, body: bytes, secret: str) -> str:
        """The header's value the forge sends for ``body``."""

    def check(self, headers: Headers, body: bytes, secret: str) -> None:
        """Raise ``Unauthorized`` naming the header unless it is right for ``body``."""


def split_ref(ref: str) -> tuple[str, str]:
    """``(branch, tag)`` of a git ref: ``refs/heads/x`` → ``("x", "")``, tags likewise."""
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :], ""
    if ref.startswith("refs/tags/"):
        return "", ref[len("refs/tags/") :]
    return ref, ""


def api_base_of_host(clone_url: str, path: str) -> str:
    """``scheme://host[:port]`` + ``path`` for an http(s) clone URL; ``""`` when it has no host."""
    parts = urlsplit(clone_url)
    if parts.scheme in ("http", "https") and parts.hostname:
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return f"{parts.scheme}://{host}{path}"
    return ""


# Build statuses → what the status clients send; shared by the forges that use GitHub's words.
GITHUB_STATES = {
    "pending": "pending",
    "running": "pending",
    "blocked": "pending",
    "waiting": "pending",
    "success": "success",
    "skipped": "success",
    "failure": "failure",
    "killed": "error",
    "error": "error",
    "declined": "error",
}

DESCRIPTIONS = {
    "pending": "Build is pending",
    "running": "Build is running",
    "blocked": "Build is waiting for approval",
    "waiting": "Build is waiting",
    "success": "Build succeeded",
    "skipped": "Build was skipped",
    "failure": "Build failed",
    "killed": "Build was cancelled",
    "error": "Build errored",
    "declined": "Build was declined",
}


@dataclass
class StatusReport:
    """One commit status to send: what ``StatusClient.send`` needs, forge-neutral."""

    repo: str  # owner/name
    commit: str
    status: str  # a build status of runner.core
    target_url: str
    context: str = "continuous-integration/pipeline-runner"
    ref: str = ""
    description: str = ""

    def describe(self) -> str:
        """The description to show: the report's own, else the one of its status."""
        return self.description or DESCRIPTIONS.get(self.status, self.status)


class StatusClient(Protocol):
    """Sends commit statuses to one forge's API."""

    def send(self, report: StatusReport) -> None:
        """Send ``report``; raises ``runner.forges.status_http.StatusError`` when refused."""


class Forge(ABC):
    """One forge: how its webhooks are signed and read, and how commit statuses reach it.

    One instance per forge, registered in ``runner.forges.FORGES`` under ``name``. Instances
    are immutable and shared by every thread.
    """

    name: str  # the repository's ``forge`` value
    title: str  # the forge's name in messages
    signing: Signing
    # Whether a commit status needs the repository's forge token (a generic receiver may be open).
    status_needs_token: bool = True

    def verify(self, headers: Headers, body: bytes, secret: str) -> None:
        """Raise ``Unauthorized`` with the reason unless ``body`` is signed with ``secret``."""
        self.signing.check(headers, body, secret)

    def signed(self, headers: Headers) -> bool:
        """Whether the request carries this forge's signature header at all."""
        return bool(header(headers, self.signing.header))

    def signature(self, body: bytes, secret: str) -> str:
        """The signature header's value the forge sends for ``body`` (for tests and tools)."""
        return self.signing.sign(body, secret)

    def parse(self, headers: Headers, body: bytes) -> BuildContext | None:
        """The event to build, or None when this delivery asks for no build."""
        return self.parse_with_reason(headers, body)[0]

    @abstractmethod
    def parse_with_reason(self, headers: Headers, body: bytes) -> tuple[BuildContext | None, str]:
        """``(event, "")`` for a build, ``(None, reason)`` for an ignored delivery.

        Raises ``BadRequest`` naming the field that is missing or of the wrong type.
        """

    def api_base(self, clone_url: str) -> str:
        """The status API's root for a repository cloned from ``clone_url``; ``""``: unknown."""
        return ""

    @abstractmethod
    def status_client(
        self, base_url: str, token: str, *, session: requests.Session | None = None
    ) -> StatusClient:
        """The client sending commit statuses to the API at ``base_url`` with ``token``."""


class HeaderEventForge(Forge):
    """A forge naming the event in one header and the delivery in another (all but generic).

    Subclasses read the body (``load``) and turn it into an event (``read``), raising
    ``Ignored`` for a delivery that asks for no build.
    """

    event_header: str
    delivery_header: str

    def parse_with_reason(self, headers: Headers, body: bytes) -> tuple[BuildContext | None, str]:
        """``(event, "")`` for a build, ``(None, reason)`` for an ignored delivery.

        Raises ``BadRequest`` naming the field that is missing or of the wrong type.
        """
        kind = header(headers, self.event_header)
        if not kind:
            raise BadRequest(
                f"missing {self.event_header} header: this does not look like a "
                f"{self.title} webhook"
            )
        data = self.load(headers, body)
        try:
            event = self.read(kind, data)
        except Ignored as ignored:
            return None, ignored.reason
        event.delivery_id = header(headers, self.delivery_header)
        return event, ""

    def load(self, headers: Headers, body: bytes) -> dict[str, Any]:
        """The JSON object of the body (``runner.forges.payload.load_json``)."""
        return load_json(body, self.title)

    @abstractmethod
    def read(self, kind: str, data: dict[str, Any]) -> BuildContext:
        """The event of a delivery of event ``kind``; raises ``Ignored`` or ``BadRequest``."""
