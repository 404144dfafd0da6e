"""The filters of a repository's build list, read from a query string the same way by the REST
API and the web UI, and handed to ``BuildStore.page_of_repo``, which does the filtering.

- ``branch``: a branch exactly, or every branch starting with a prefix when it ends in ``*``
  (``release/*``). Git refuses ``*`` in branch names, so the star is never part of one.
- ``pull_request``: the builds of that pull request (merge request) number.
- ``status`` and ``event``: exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import BadRequest
from runner.services.values import whole_number

# Longer than any branch a build row holds (the column is 300 characters).
MAX_BRANCH = 300


@dataclass(frozen=True)
class BuildFilter:
    """Chosen filters; None (or 0 for ``pull_request``) where none is chosen."""

    branch: str | None = None
    branch_prefix: str | None = None
    status: str | None = None
    event: str | None = None
    pull_request: int = 0

    def store_args(self) -> dict[str, Any]:
        """Keyword arguments of ``BuildStore.page_of_repo`` and ``BuildStore.count``."""
        return {
            "branch": self.branch,
            "branch_prefix": self.branch_prefix,
            "status": self.status,
            "event": self.event,
            "pull_request": self.pull_request or None,
        }


def branch_filter(text: str) -> tuple[str | None, str | None]:
    """``(branch, prefix)`` of a branch filter's text: ``main`` is ``("main", None)``,
    ``release/*`` is ``(None, "release/")``, ``""`` and ``*`` are no filter. ``BadRequest`` for
    text longer than any branch or with a star elsewhere than at its end."""
    text = text.strip()
    if len(text) > MAX_BRANCH:
        raise BadRequest(f"branch must be at most {MAX_BRANCH} characters")
    if "*" in text.rstrip("*"):
        raise BadRequest("branch: a * may only end it (release/* for every release/ branch)")
    if text.endswith("*"):
        return None, text.rstrip("*") or None
    return text or None, None


def pull_request_filter(text: str) -> int:
    """A pull request number of a query string, 0 for none; ``BadRequest`` otherwise. A
    leading ``#`` is allowed, as people write them."""
    text = text.strip().removeprefix("#")
    return whole_number(text, "pull_request", low=1) if text else 0


def from_query(
    args: Mapping[str, str], *, statuses: tuple[str, ...] = (), events: tuple[str, ...] = ()
) -> BuildFilter:
    """The filters of query arguments ``branch``, ``pull_request``, ``status`` and ``event``.

    With ``statuses`` or ``events`` given, a value outside them is no filter (the page's
    select boxes); without, they are exact values (the API's).
    """
    branch, prefix = branch_filter(args.get("branch", ""))
    status, event = args.get("status", ""), args.get("event", "")
    if statuses and status not in statuses:
        status = ""
    if events and event not in events:
        event = ""
    return BuildFilter(
        branch=branch,
        branch_prefix=prefix,
        status=status or None,
        event=event or None,
        pull_request=pull_request_filter(args.get("pull_request", "")),
    )
