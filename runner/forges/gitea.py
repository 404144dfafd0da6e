"""Gitea webhooks (``X-Gitea-Signature`` hex HMAC-SHA256) and commit statuses.

The payloads are those of ``runner.forges.gitea_like`` (see its docstring for what builds).
"""

from __future__ import annotations

from collections.abc import Mapping

from runner.forges import gitea_like
from runner.forges.base import HookEvent
from runner.forges.gitea_like import StatusClient, api_base_from_clone_url

NAME = "gitea"
DIALECT = gitea_like.Dialect(
    name="Gitea",
    signature_header="X-Gitea-Signature",
    event_header="X-Gitea-Event",
    delivery_header="X-Gitea-Delivery",
)

__all__ = [
    "NAME",
    "StatusClient",
    "api_base_from_clone_url",
    "parse",
    "parse_with_reason",
    "verify",
]


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Check ``X-Gitea-Signature``; raise ``Unauthorized`` when it is wrong."""
    gitea_like.verify(DIALECT, headers, body, secret)


def parse(headers: Mapping[str, str], body: bytes) -> HookEvent | None:
    """The event to build, or None when this delivery asks for no build."""
    return gitea_like.parse_with_reason(DIALECT, headers, body)[0]


def parse_with_reason(headers: Mapping[str, str], body: bytes) -> tuple[HookEvent | None, str]:
    """``(event, "")`` for a build, ``(None, reason)`` for an ignored delivery."""
    return gitea_like.parse_with_reason(DIALECT, headers, body)
