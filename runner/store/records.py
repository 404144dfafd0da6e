"""Dataclasses for the store's entities that ``runner.core`` does not define (yet)."""

from __future__ import annotations

from dataclasses import dataclass, field

APPROVED = "approved"
DECLINED = "declined"


@dataclass
class Environment:
    """A deploy target of a repository, chosen by branch/tag/event patterns (first by position)."""

    id: int
    repo_id: int
    name: str
    branches: list[str] = field(default_factory=list)  # globs; empty: any branch
    tags: list[str] = field(default_factory=list)  # globs; empty: any tag
    events: list[str] = field(default_factory=list)  # empty: any event
    labels: dict[str, str] = field(default_factory=dict)  # agent labels its stages ask for
    approval_required: bool = False
    lock: bool = False  # one deploy at a time
    locked_by: int | None = None  # build id holding the lock
    position: int = 0
    four_eyes: bool = False  # the approver must not be the build's sender or author
    approvals_required: int = 1  # distinct approvers needed
    rollback_exempt: bool = False  # a rollback needs no approval


@dataclass
class Deployment:
    """One deployment of a build to an environment: automatic (a push or tag the environment
    takes), promote or rollback. ``state`` follows the build and what its deploy steps report
    (``canary`` with its ``traffic_share`` in percent, ``live``, ``aborted``...)."""

    id: int
    repo_id: int
    environment: str
    build_id: int
    build_number: int
    event: str
    commit: str = ""
    ref: str = ""
    version: str = ""
    image: str = ""
    strategy: str = ""
    state: str = "pending"
    traffic_share: int | None = None
    sender: str = ""
    approved_by: list[str] = field(default_factory=list)
    agent: str = ""
    message: str = ""
    created: float = 0.0
    started: float = 0.0
    finished: float = 0.0


@dataclass
class BuildEvent:
    """One entry of a build's history (``requeued: agent lost``, ``approved by alice``...)."""

    id: int
    build_id: int
    kind: str
    message: str = ""
    actor: str = ""
    stage_id: int | None = None
    created: float = 0.0

    @property
    def text(self) -> str:
        """The entry as one line, ``kind: message``, its kind said once.

        Older entries repeat the kind inside the message ("requeued: requeued: ...",
        "cancelled: cancelled"); they read like new ones.
        """
        message = self.message.strip()
        if message == self.kind:
            message = ""
        elif message.startswith(f"{self.kind}: "):
            message = message[len(self.kind) + 2 :]
        return f"{self.kind}: {message}" if message else self.kind


@dataclass
class Approval:
    """A person's decision on a blocked build."""

    id: int
    build_id: int
    login: str
    decision: str  # approved or declined
    comment: str = ""
    stage_id: int | None = None
    created: float = 0.0


@dataclass
class HookDelivery:
    """A webhook delivery already seen, and the build it made (if any)."""

    id: int
    repo_id: int
    delivery_id: str
    body_hash: str = ""  # SHA-256 of the signed body
    build_id: int | None = None
    created: float = 0.0
