"""The approval rules of an environment: who may approve a blocked build, and when it runs.

Pure (no I/O): the store's decision on a blocked build (``runner.store.decisions``) and the
triggerer call these, so the API, the CLI and the pages share one rule and one message.

- ``needs_approval(env, event, once_live=)``: a build of ``event`` to ``env`` is created
  ``blocked``.
- ``check_approver(...)``: refuses an approval that breaks the rules (four-eyes, twice by one
  person) with the reason.
- ``waiting_text(approved, required)`` and ``blocked_reason(...)``: what a blocked build
  waits for, in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runner.errors import Conflict, Forbidden

# Most people whose approval an environment may ask for: enough for any team's release board,
# small enough that a typo (1000) is refused rather than blocking every deploy for good.
MAX_APPROVALS = 10

# What the sender of a build did, by event, for the four-eyes message.
_SENDER_VERBS = {
    "push": "pushed",
    "tag": "pushed",
    "pull_request": "opened",
    "promote": "promoted",
    "rollback": "rolled back",
}


def needs_approval(env: Any, event: str, *, once_live: bool = False) -> bool:
    """Whether a build of ``event`` deploying to ``env`` (an ``Environment``, or None) waits
    in ``blocked`` for approval: the environment asks for approval, unless the build is a
    rollback to a commit that was live there before (``once_live``) and the environment
    exempts rollbacks (``rollback_exempt``). A "rollback" to anything else is a new release
    in disguise and needs approval like one."""
    if env is None or not env.approval_required:
        return False
    exempt = event == "rollback" and once_live and getattr(env, "rollback_exempt", False)
    return not exempt


def required_approvals(env: Any) -> int:
    """How many distinct people must approve a build of ``env`` (at least one)."""
    wanted = getattr(env, "approvals_required", 1) if env is not None else 1
    return max(1, int(wanted or 1))


def check_approver(
    login: str,
    *,
    number: int,
    event: str,
    sender: str,
    author: str,
    commit: str,
    four_eyes: bool,
    approvers: Sequence[str],
    required: int,
) -> None:
    """Refuse ``login``'s approval of build ``number`` when a rule forbids it.

    ``approvers`` are the logins that approved the build already. Raises ``Conflict`` when
    ``login`` is one of them (one person counts once), and with ``four_eyes`` ``Forbidden``
    when ``login`` is the build's ``sender`` (who pushed, started or promoted it) or its
    commit's ``author`` (a commit author counts when it is spelled like a user's login).
    Logins compare without regard to case, as forges treat them.
    """
    who = login.casefold()
    if who in {a.casefold() for a in approvers}:
        raise Conflict(
            f"{login} approved build #{number} already: {waiting_text(len(approvers), required)}"
        )
    if not four_eyes:
        return
    if sender and who == sender.casefold():
        did = _SENDER_VERBS.get(event, "started")
        raise Forbidden(
            f"four-eyes: {login} {did} build #{number} and cannot approve it; "
            "another person with write access must"
        )
    if author and who == author.casefold():
        raise Forbidden(
            f"four-eyes: {login} wrote commit {commit[:7]} of build #{number} and cannot "
            "approve it; another person with write access must"
        )


def waiting_text(approved: int, required: int) -> str:
    """``waiting for 1 more approval (2 required)``; with one required and none given,
    ``waiting for an approval``."""
    left = max(0, required - approved)
    if required <= 1:
        return "waiting for an approval"
    plural = "" if left == 1 else "s"
    return f"waiting for {left} more approval{plural} ({required} required)"


def blocked_reason(env: Any, build: Any, approvers: Sequence[str]) -> str:
    """Why ``build`` (a ``Build``) is blocked, for ``GET .../waiting``: how many approvals it
    still needs from whom, and whom four-eyes leaves out. ``env`` is its environment (or
    None), ``approvers`` the logins that approved it so far."""
    required = required_approvals(env)
    where = f" to deploy to {build.target}" if build.target else ""
    if required <= 1:
        text = f"waiting for a person with write access to approve{where}"
    else:
        text = f"{waiting_text(len(set(approvers)), required)} from people with write access{where}"
    if env is not None and getattr(env, "four_eyes", False):
        excluded = sorted({n for n in (build.sender, build.author) if n})
        if excluded:
            text += f" (four-eyes: not {' or '.join(excluded)})"
    return text
