"""A build's history reads as one line per entry with its kind said once: entries written now
carry the reason alone, and entries stored by older versions ("requeued: requeued: agent 2",
"cancelled: cancelled") read the same way."""

from __future__ import annotations

from runner.store.records import BuildEvent

from .helpers import make_build


def _event(kind: str, message: str) -> BuildEvent:
    return BuildEvent(id=1, build_id=1, kind=kind, message=message)


def test_an_older_entry_does_not_repeat_its_kind():
    assert _event("requeued", "requeued: agent 2 stopped").text == "requeued: agent 2 stopped"
    assert _event("cancelled", "cancelled").text == "cancelled"
    assert _event("failed", "failed: agent lost").text == "failed: agent lost"


def test_an_entry_is_its_kind_and_its_message():
    assert _event("approved", "").text == "approved"
    assert _event("requeued", "agent build-01 stopped").text == "requeued: agent build-01 stopped"


def test_store_writes_each_kind_once_for_requeue_fail_and_cancel(stores, repo):
    agent = stores.agents.create("build-01")
    first = stores.builds.create(make_build(repo.id))
    stage = stores.stages.claim(agent)
    assert stores.stages.requeue(stage.id, "agent build-01 stopped renewing its lease")
    stores.stages.fail(stores.stages.claim(agent).id, "agent build-01 stopped answering")
    second = stores.builds.create(make_build(repo.id))
    stores.builds.cancel(second.id, actor="alice")
    entries = stores.events.of_build(first.id) + stores.events.of_build(second.id)
    assert [(e.kind, e.message) for e in entries] == [
        ("requeued", "agent build-01 stopped renewing its lease"),
        ("failed", "agent build-01 stopped answering"),
        ("cancelled", ""),
    ]
    assert [e.text for e in entries] == [
        "requeued: agent build-01 stopped renewing its lease",
        "failed: agent build-01 stopped answering",
        "cancelled",
    ]
