"""GitHub webhooks: X-Hub-Signature-256 and parsing of push, tag, pull request and deletes."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from forge_payloads import body, github_headers, load

from runner.errors import BadRequest, Unauthorized
from runner.forges.github import GITHUB as github

SECRET = "s3cr3t-webhook"


def test_valid_signature_passes_and_wrong_one_is_refused():
    raw = body(load("github_push"))
    github.verify(github_headers("push", raw, SECRET), raw, SECRET)
    assert (
        github.signature(raw, SECRET) == github_headers("push", raw, SECRET)["X-Hub-Signature-256"]
    )
    with pytest.raises(Unauthorized, match="does not match"):
        github.verify(github_headers("push", raw, "another-secret"), raw, SECRET)
    tampered = raw.replace(b"Update README", b"Update READYOU")
    with pytest.raises(Unauthorized):
        github.verify(github_headers("push", raw, SECRET), tampered, SECRET)


def test_missing_signature_or_old_sha1_header_is_refused():
    raw = body(load("github_push"))
    headers = github_headers("push", raw, SECRET)
    del headers["X-Hub-Signature-256"]
    with pytest.raises(Unauthorized, match="missing X-Hub-Signature-256"):
        github.verify(headers, raw, SECRET)
    headers["X-Hub-Signature-256"] = "sha1=0123456789abcdef"
    with pytest.raises(Unauthorized, match="sha256="):
        github.verify(headers, raw, SECRET)


def test_headers_are_matched_case_insensitively():
    raw = body(load("github_push"))
    headers = {k.lower(): v for k, v in github_headers("push", raw, SECRET).items()}
    github.verify(headers, raw, SECRET)
    assert github.parse(headers, raw).delivery_id == "d-1"


def test_push_to_a_branch():
    raw = body(load("github_push"))
    event = github.parse(github_headers("push", raw, SECRET, delivery="72d3162e-cc78"), raw)
    assert event.event == "push"
    assert event.ref == "refs/heads/main"
    assert event.branch == "main" and event.tag == ""
    assert event.commit == "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
    assert event.before == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert event.title == "Update README.md"
    assert event.message.startswith("Update README.md\n\nExplain")
    assert event.author == "octocat" and event.author_email == "octocat@github.com"
    assert event.sender == "octocat"
    assert event.repo == "octocat/hello-world"
    assert event.delivery_id == "72d3162e-cc78"
    assert event.changed_files == ["docs/install.md", "README.md"]
    # The event is the build's context itself; its stored form leaves out the delivery's id.
    stored = event.to_dict()
    assert stored["branch"] == "main" and stored["commit"] == event.commit
    assert "delivery_id" not in stored


def test_tag_push():
    raw = body(load("github_tag"))
    event = github.parse(github_headers("push", raw, SECRET), raw)
    assert event.event == "tag"
    assert event.tag == "v1.4.0"
    assert event.ref == "refs/tags/v1.4.0"
    assert event.before == ""  # a new ref has no "before"
    assert event.branch == "main"  # from base_ref
    assert event.commit == "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
    assert event.message == "Release 1.4.0"


def test_deleted_branch_is_ignored_with_a_reason():
    raw = body(load("github_delete"))
    event, reason = github.parse_with_reason(github_headers("push", raw, SECRET), raw)
    assert event is None
    assert "refs/heads/feature/old was deleted" in reason


def test_pull_request_from_a_fork():
    raw = body(load("github_pull_request"))
    event = github.parse(github_headers("pull_request", raw, SECRET), raw)
    assert event.event == "pull_request"
    assert event.pull_request == 42
    assert event.ref == "refs/pull/42/head"
    assert event.commit == "c4b1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9"
    assert event.branch == "main" and event.target_branch == "main"
    assert event.source_branch == "retry"
    assert event.action == "opened"
    assert event.fork is True
    assert event.title == "Add a retry to the uploader"
    assert event.author == "hubot"


@pytest.mark.parametrize("action", ["closed", "labeled", "edited", "review_requested"])
def test_pull_request_actions_without_new_code_are_ignored(action):
    data = load("github_pull_request")
    data["action"] = action
    raw = body(data)
    event, reason = github.parse_with_reason(github_headers("pull_request", raw, SECRET), raw)
    assert event is None and action in reason


def test_synchronize_builds():
    data = load("github_pull_request")
    data["action"] = "synchronize"
    raw = body(data)
    assert github.parse(github_headers("pull_request", raw, SECRET), raw).action == "synchronize"


def test_ping_and_other_events_are_ignored():
    raw = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    event, reason = github.parse_with_reason(github_headers("ping", raw, SECRET), raw)
    assert event is None and "ping" in reason
    event, reason = github.parse_with_reason(github_headers("issues", raw, SECRET), raw)
    assert event is None and "issues" in reason


def test_form_encoded_payload_is_accepted():
    raw = urlencode({"payload": json.dumps(load("github_push"))}).encode()
    headers = github_headers("push", raw, SECRET)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    github.verify(headers, raw, SECRET)
    assert github.parse(headers, raw).branch == "main"


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2]", json.dumps({"before": "x"}).encode(), b"\xff\xfe"]
)
def test_malformed_bodies_are_bad_requests(raw):
    with pytest.raises(BadRequest):
        github.parse(github_headers("push", raw, SECRET), raw)


def test_missing_event_header_is_a_bad_request():
    raw = body(load("github_push"))
    headers = github_headers("push", raw, SECRET)
    del headers["X-GitHub-Event"]
    with pytest.raises(BadRequest, match="X-GitHub-Event"):
        github.parse(headers, raw)


def test_pull_request_whose_head_repository_is_gone_counts_as_a_fork():
    data = load("github_pull_request")
    data["pull_request"]["head"]["repo"] = None  # GitHub sends null once a fork is deleted
    raw = body(data)
    assert github.parse(github_headers("pull_request", raw, SECRET), raw).fork is True
    data["pull_request"]["head"]["repo"] = {"full_name": "octocat/hello-world"}
    raw = body(data)
    assert github.parse(github_headers("pull_request", raw, SECRET), raw).fork is False
