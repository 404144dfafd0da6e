"""Gitea and Gogs webhooks: their hex HMAC signature headers and push/tag/pull request parsing."""

from __future__ import annotations

import pytest
from forge_payloads import body, gitea_headers, gogs_headers, load

from runner.errors import BadRequest, Unauthorized
from runner.forges.gitea import GITEA as gitea
from runner.forges.gitea import GOGS as gogs

SECRET = "gitea-gogs-secret"


def test_gitea_signature():
    raw = body(load("gitea_push"))
    gitea.verify(gitea_headers("push", raw, SECRET), raw, SECRET)
    with pytest.raises(Unauthorized, match="X-Gitea-Signature"):
        gitea.verify(gitea_headers("push", raw, "wrong"), raw, SECRET)
    # A Gogs signature header is not accepted for a Gitea repository.
    with pytest.raises(Unauthorized, match="missing X-Gitea-Signature"):
        gitea.verify(gogs_headers("push", raw, SECRET), raw, SECRET)


def test_gogs_signature():
    raw = body(load("gogs_push"))
    gogs.verify(gogs_headers("push", raw, SECRET), raw, SECRET)
    with pytest.raises(Unauthorized, match="X-Gogs-Signature"):
        gogs.verify(gogs_headers("push", raw + b" ", SECRET), raw, SECRET)


def test_gitea_push():
    raw = body(load("gitea_push"))
    event = gitea.parse(gitea_headers("push", raw, SECRET, delivery="f6266f16-1bf3"), raw)
    assert event.event == "push"
    assert event.branch == "develop"
    assert event.commit == "bffeb74224043ba2feb48d137756c8a9331c449a"
    assert event.title == "Webhooks Yay!"
    assert event.author == "gitea" and event.author_email == "someone@gitea.io"
    assert event.repo == "gitea/webhooks"
    assert event.delivery_id == "f6266f16-1bf3"
    assert event.changed_files == ["webhooks.txt"]


def test_gitea_pull_request_synchronized():
    raw = body(load("gitea_pull_request"))
    event = gitea.parse(gitea_headers("pull_request", raw, SECRET), raw)
    assert event.event == "pull_request"
    assert event.action == "synchronize"
    assert event.pull_request == 7
    assert event.ref == "refs/pull/7/head"
    assert event.commit == "9c3c9ba1a1e0a2c8b7f1d2e3f4a5b6c7d8e9f0a1"
    assert event.source_branch == "faster-tests" and event.target_branch == "master"
    assert event.fork is False


def test_gitea_closed_pull_request_create_and_delete_events_are_ignored():
    data = load("gitea_pull_request")
    data["action"] = "closed"
    raw = body(data)
    assert gitea.parse(gitea_headers("pull_request", raw, SECRET), raw) is None
    create = body({"ref": "v1", "ref_type": "tag", "sha": "bffeb742"})
    event, reason = gitea.parse_with_reason(gitea_headers("create", create, SECRET), create)
    assert event is None and "pushes of tags do" in reason
    delete = body({"ref": "develop", "ref_type": "branch", "pusher_type": "user"})
    assert gitea.parse(gitea_headers("delete", delete, SECRET), delete) is None


def test_gitea_push_of_a_deleted_ref_is_ignored():
    data = load("gitea_push")
    data.update(after="0" * 40, commits=[], head_commit=None)
    raw = body(data)
    event, reason = gitea.parse_with_reason(gitea_headers("push", raw, SECRET), raw)
    assert event is None and "deleted" in reason


def test_gogs_tag_push_without_head_commit():
    raw = body(load("gogs_push"))
    event = gogs.parse(gogs_headers("push", raw, SECRET, delivery="e1f5a2b3"), raw)
    assert event.event == "tag"
    assert event.tag == "v0.3.1"
    assert event.commit == "4522c6a9a1b3e7b3b9c0e2b8c7f9a1d2e3f4a5b6"
    assert event.message == "Bump version to 0.3.1\n"
    assert event.author == "unknwon"
    assert event.delivery_id == "e1f5a2b3"


def test_gogs_pull_request_names_branches_and_leaves_the_sha_to_resolve():
    raw = body(load("gogs_pull_request"))
    event = gogs.parse(gogs_headers("pull_request", raw, SECRET), raw)
    assert event.event == "pull_request"
    assert event.ref == "refs/pull/3/head"
    assert event.commit == ""  # Gogs does not send the head sha
    assert event.source_branch == "typo" and event.branch == "master"
    assert event.fork is True


def test_gogs_malformed_body():
    with pytest.raises(BadRequest, match="Gogs"):
        gogs.parse(gogs_headers("push", b"nope", SECRET), b"nope")
    with pytest.raises(BadRequest, match="X-Gogs-Event"):
        gogs.parse({"Content-Type": "application/json"}, b"{}")
