"""The event log's store: entries of a repository stay in its log, the server's log holds every
entry, reads filter by kind (exact or ``build.`` prefix), by a set of allowed kind prefixes,
actor and time and page by id, and the store offers no way to change or remove an entry. On
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from runner.store.audit import AuditFilter, AuditStore


@pytest.fixture
def two_logs(stores, repo):
    other = stores.repos.create("acme/other")
    stores.audit.record(
        "build.created", "build:acme/app#1", "build #1 created", "alice", repo_id=repo.id
    )
    stores.audit.record("secret.set", "repo:acme/app", "secret TOKEN added", "bob", repo_id=repo.id)
    stores.audit.record(
        "build.cancelled", "build:acme/app#1", "build #1 cancelled", "bob", repo_id=repo.id
    )
    stores.audit.record(
        "build.created", "build:acme/other#1", "build #1 created", "alice", repo_id=other.id
    )
    stores.audit.record("user.created", "user:carol", "user carol created", "admin")
    return repo, other


def _messages(entries):
    return [(e.kind, e.actor) for e in entries]


def test_a_repositorys_log_holds_only_its_entries_newest_first(stores, two_logs):
    repo, other = two_logs
    assert _messages(stores.audit.matching(where=AuditFilter(repo_id=repo.id))) == [
        ("build.cancelled", "bob"),
        ("secret.set", "bob"),
        ("build.created", "alice"),
    ]
    assert _messages(stores.audit.matching(where=AuditFilter(repo_id=other.id))) == [
        ("build.created", "alice")
    ]
    assert len(stores.audit.matching()) == 5  # the server's log: every entry


def test_kind_is_exact_or_a_prefix_ending_with_a_dot(stores, two_logs):
    repo, _ = two_logs
    builds = stores.audit.matching(where=AuditFilter(repo_id=repo.id, kind="build."))
    assert [e.kind for e in builds] == ["build.cancelled", "build.created"]
    exact = stores.audit.matching(where=AuditFilter(kind="build.created"))
    assert [e.subject for e in exact] == ["build:acme/other#1", "build:acme/app#1"]
    assert stores.audit.matching(where=AuditFilter(kind="build")) == []
    assert stores.audit.matching(where=AuditFilter(kind="b%.")) == []  # no LIKE wildcards


def test_kinds_keeps_only_entries_of_those_prefixes_and_pages_within_them(stores, two_logs):
    repo, _ = two_logs
    stores.audit.record("buildx.y", "repo:acme/app", "not a build", "bob", repo_id=repo.id)
    builds = AuditFilter(repo_id=repo.id, kinds=("build.",))
    assert [e.kind for e in stores.audit.matching(where=builds)] == [
        "build.cancelled",
        "build.created",
    ]
    first = stores.audit.matching(where=builds, limit=1)
    rest = stores.audit.matching(where=dataclasses.replace(builds, before=first[0].id))
    assert [(e.kind, e.actor) for e in first + rest] == [
        ("build.cancelled", "bob"),
        ("build.created", "alice"),
    ]
    both = AuditFilter(repo_id=repo.id, kind="secret.", kinds=("build.", "user."))
    assert stores.audit.matching(where=both) == []
    assert stores.audit.matching(where=AuditFilter(kinds=())) == []
    users = stores.audit.matching(where=AuditFilter(kinds=("user.", "secret.")))
    assert [e.kind for e in users] == ["user.created", "secret.set"]


def test_actor_time_and_paging_filters(stores, two_logs):
    repo, _ = two_logs
    by_bob = stores.audit.matching(where=AuditFilter(actor="bob"))
    assert [e.kind for e in by_bob] == ["build.cancelled", "secret.set"]
    everything = stores.audit.matching()
    newest, oldest = everything[0], everything[-1]
    assert stores.audit.matching(where=AuditFilter(since=newest.created + 1)) == []
    assert stores.audit.matching(where=AuditFilter(until=oldest.created)) == []
    first = stores.audit.matching(where=AuditFilter(repo_id=repo.id), limit=2)
    rest = stores.audit.matching(where=AuditFilter(repo_id=repo.id, before=first[-1].id))
    assert [e.kind for e in first + rest] == ["build.cancelled", "secret.set", "build.created"]


def test_the_log_is_append_only(stores, two_logs):
    entry = stores.audit.record("repo.changed", "repo:acme/app", "x" * 5000, "a" * 500)
    assert len(entry.message) == 2000 and len(entry.actor) == 200  # cut, never refused
    public = {name for name in dir(AuditStore) if not name.startswith("_")}
    assert public == {"record", "matching"}
