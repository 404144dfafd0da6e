"""GitLab webhooks: X-Gitlab-Token and parsing of push, tag push, merge requests and deletes."""

from __future__ import annotations

import pytest
from forge_payloads import body, gitlab_headers, load

from runner.errors import BadRequest, Unauthorized
from runner.forges.gitlab import GITLAB as gitlab

SECRET = "gl-token-123"


def test_token_must_equal_the_secret():
    raw = body(load("gitlab_push"))
    gitlab.verify(gitlab_headers("Push Hook", SECRET), raw, SECRET)
    with pytest.raises(Unauthorized, match="does not match"):
        gitlab.verify(gitlab_headers("Push Hook", "gl-token-124"), raw, SECRET)
    headers = gitlab_headers("Push Hook", SECRET)
    del headers["X-Gitlab-Token"]
    with pytest.raises(Unauthorized, match="missing X-Gitlab-Token"):
        gitlab.verify(headers, raw, SECRET)


def test_a_repository_without_secret_accepts_nothing():
    raw = body(load("gitlab_push"))
    with pytest.raises(Unauthorized, match="no webhook secret"):
        gitlab.verify(gitlab_headers("Push Hook", ""), raw, "")


def test_push():
    raw = body(load("gitlab_push"))
    event = gitlab.parse(gitlab_headers("Push Hook", SECRET, delivery="13792a34-cac6"), raw)
    assert event.event == "push"
    assert event.branch == "master"
    assert event.commit == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert event.before == "95790bf891e76fee5e1747ab589903a6a1f80f22"
    assert event.message == "fixed readme"  # the head commit's, not the first listed
    assert event.author == "jsmith"
    assert event.repo == "mike/diaspora"
    assert event.delivery_id == "13792a34-cac6"
    assert event.changed_files == ["CHANGELOG", "app/controller/application.rb", "README.md"]


def test_a_cut_commit_list_leaves_changed_files_unknown():
    data = load("gitlab_push")
    data["total_commits_count"] = 42
    raw = body(data)
    assert gitlab.parse(gitlab_headers("Push Hook", SECRET), raw).changed_files is None


def test_tag_push():
    raw = body(load("gitlab_tag"))
    event = gitlab.parse(gitlab_headers("Tag Push Hook", SECRET), raw)
    assert event.event == "tag"
    assert event.tag == "v1.0.0"
    assert event.commit == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
    assert event.message == "Tag message"


def test_deleted_branch_and_tag_are_ignored():
    raw = body(load("gitlab_delete"))
    event, reason = gitlab.parse_with_reason(gitlab_headers("Push Hook", SECRET), raw)
    assert event is None and "deleted" in reason
    data = load("gitlab_tag")
    data.update(after="0" * 40, checkout_sha=None)
    raw = body(data)
    event, reason = gitlab.parse_with_reason(gitlab_headers("Tag Push Hook", SECRET), raw)
    assert event is None and "refs/tags/v1.0.0 was deleted" in reason


def test_merge_request_opened():
    raw = body(load("gitlab_merge_request"))
    event = gitlab.parse(gitlab_headers("Merge Request Hook", SECRET), raw)
    assert event.event == "pull_request"
    assert event.pull_request == 1
    assert event.ref == "refs/merge-requests/1/head"
    assert event.commit == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert event.action == "opened"
    assert event.branch == "master" and event.source_branch == "ms-viewport"
    assert event.fork is False
    assert event.author == "root"


def test_merge_request_update_builds_only_with_new_commits():
    data = load("gitlab_merge_request")
    data["object_attributes"]["action"] = "update"
    raw = body(data)
    event, reason = gitlab.parse_with_reason(gitlab_headers("Merge Request Hook", SECRET), raw)
    assert event is None and "without new commits" in reason
    data["object_attributes"]["oldrev"] = "95790bf891e76fee5e1747ab589903a6a1f80f22"
    raw = body(data)
    event = gitlab.parse(gitlab_headers("Merge Request Hook", SECRET), raw)
    assert event.action == "synchronize"


@pytest.mark.parametrize("action", ["close", "merge", "approved"])
def test_merge_request_other_actions_are_ignored(action):
    data = load("gitlab_merge_request")
    data["object_attributes"]["action"] = action
    raw = body(data)
    event, reason = gitlab.parse_with_reason(gitlab_headers("Merge Request Hook", SECRET), raw)
    assert event is None and action in reason


def test_other_events_are_ignored_and_garbage_is_refused():
    event, reason = gitlab.parse_with_reason(gitlab_headers("Issue Hook", SECRET), b"{}")
    assert event is None and "Issue Hook" in reason
    with pytest.raises(BadRequest):
        gitlab.parse(gitlab_headers("Push Hook", SECRET), b"<xml/>")
    with pytest.raises(BadRequest, match="ref"):
        gitlab.parse(gitlab_headers("Push Hook", SECRET), b'{"object_kind": "push"}')
