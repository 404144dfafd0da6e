"""The approval rules as pure logic (``runner.approval_rules``) and their declaration keys: which
builds wait, whom four-eyes refuses (sender or commit author, any case), one person counting
once, and the words of what a blocked build waits for. The same rules run through a real
server in tests/agents/test_deploy_approvals.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from runner.approval_rules import blocked_reason, check_approver, needs_approval, waiting_text
from runner.environments import parse_declaration
from runner.errors import Conflict, Forbidden, PipelineError


def _env(**fields: object) -> SimpleNamespace:
    base = {"approval_required": True, "four_eyes": False, "approvals_required": 1}
    return SimpleNamespace(**{**base, "rollback_exempt": False, **fields})


@pytest.mark.parametrize(
    ("env", "event", "once_live", "waits"),
    [
        (None, "promote", False, False),
        (_env(approval_required=False), "promote", False, False),
        (_env(), "rollback", True, True),
        (_env(rollback_exempt=True), "rollback", True, False),
        # A rollback to a commit that was never live there is a new release: it waits.
        (_env(rollback_exempt=True), "rollback", False, True),
        (_env(rollback_exempt=True), "promote", True, True),
        (_env(rollback_exempt=True), "tag", True, True),
    ],
)
def test_which_builds_wait_for_approval(env, event, once_live, waits):
    assert needs_approval(env, event, once_live=once_live) is waits


def _check(login: str, **overrides: object) -> None:
    args: dict[str, object] = {
        "number": 7,
        "event": "promote",
        "sender": "Alice",
        "author": "dave",
        "commit": "abc1234def",
        "four_eyes": True,
        "approvers": [],
        "required": 1,
    }
    check_approver(login, **{**args, **overrides})  # type: ignore[arg-type]


def test_four_eyes_refuses_the_sender_and_the_commit_author_whatever_the_case():
    with pytest.raises(Forbidden, match="four-eyes: alice promoted build #7 and cannot"):
        _check("alice")
    with pytest.raises(Forbidden, match="four-eyes: alice rolled back build #7"):
        _check("alice", event="rollback")
    with pytest.raises(Forbidden, match="four-eyes: Dave wrote commit abc1234 of build #7"):
        _check("Dave")
    _check("bob")
    _check("alice", four_eyes=False)


def test_one_person_counts_once():
    with pytest.raises(Conflict, match=r"bob approved build #7 already: waiting for 1 more"):
        _check("bob", approvers=["BOB"], required=2, four_eyes=False)


def test_what_a_blocked_build_waits_for_in_words():
    assert waiting_text(0, 1) == "waiting for an approval"
    assert waiting_text(1, 2) == "waiting for 1 more approval (2 required)"
    assert waiting_text(0, 3) == "waiting for 3 more approvals (3 required)"
    build = SimpleNamespace(target="production", sender="alice", author="dave")
    assert blocked_reason(_env(approvals_required=2, four_eyes=True), build, ["bob"]) == (
        "waiting for 1 more approval (2 required) from people with write access to deploy to "
        "production (four-eyes: not alice or dave)"
    )
    assert blocked_reason(None, build, []) == (
        "waiting for a person with write access to approve to deploy to production"
    )


def test_the_declaration_reads_the_rules_and_refuses_a_bad_count():
    (decl,) = parse_declaration(
        {"production": {"approval": True, "four_eyes": True, "approvals_required": 2}}
    )
    assert (decl.four_eyes, decl.approvals_required, decl.rollback_exempt) == (True, 2, False)
    assert decl.store_fields()["approvals_required"] == 2
    for bad in (0, 11, "2", True):
        with pytest.raises(PipelineError, match="not a whole number from 1 to 10"):
            parse_declaration({"production": {"approvals_required": bad}})
    with pytest.raises(PipelineError, match="not true or false"):
        parse_declaration({"production": {"rollback_exempt": "yes"}})
