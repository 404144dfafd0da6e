"""The generic webhook: X-Runner-Signature HMAC-SHA256 and its documented JSON body."""

from __future__ import annotations

import json

import pytest
from forge_payloads import generic_headers

from runner.errors import BadRequest, Unauthorized
from runner.forges.generic import GENERIC as generic

SECRET = "generic-secret"
SHA = "a" * 40


def _raw(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_signature_is_checked():
    raw = _raw(ref="refs/heads/main", commit=SHA)
    generic.verify(generic_headers(raw, SECRET), raw, SECRET)
    generic.verify({"X-Runner-Signature": generic.signature(raw, SECRET)}, raw, SECRET)
    with pytest.raises(Unauthorized, match="X-Runner-Signature"):
        generic.verify(generic_headers(raw, "other"), raw, SECRET)
    with pytest.raises(Unauthorized, match="missing"):
        generic.verify({}, raw, SECRET)


def test_push_with_ref_and_commit():
    raw = _raw(ref="refs/heads/main", commit=SHA.upper(), message="Deploy docs\n\nbody")
    event = generic.parse(generic_headers(raw, SECRET, delivery="job-17"), raw)
    assert event.event == "push" and event.branch == "main"
    assert event.commit == SHA
    assert event.title == "Deploy docs"
    assert event.delivery_id == "job-17"


def test_branch_or_tag_fields_make_the_ref_and_tag_means_tag_event():
    raw = _raw(branch="release")
    event = generic.parse(generic_headers(raw, SECRET), raw)
    assert event.ref == "refs/heads/release" and event.commit == ""
    raw = _raw(tag="v2.0.0", commit=SHA, delivery="body-id")
    event = generic.parse(generic_headers(raw, SECRET), raw)
    assert event.event == "tag" and event.ref == "refs/tags/v2.0.0"
    assert event.delivery_id == "body-id"


def test_custom_event_with_target_params_and_changed_files():
    raw = _raw(
        event="custom",
        branch="main",
        target="staging",
        params={"VERSION": 3},
        changed_files=["src/a.py"],
    )
    event = generic.parse(generic_headers(raw, SECRET), raw)
    assert event.event == "custom" and event.target == "staging"
    assert event.params == {"VERSION": "3"}
    assert event.changed_files == ["src/a.py"]


def test_deleted_is_ignored():
    raw = _raw(ref="refs/heads/gone", deleted=True)
    event, reason = generic.parse_with_reason(generic_headers(raw, SECRET), raw)
    assert event is None and "refs/heads/gone was deleted" in reason


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"event": "deploy", "branch": "main"}, "not one of"),
        ({"message": "no ref"}, "give 'commit' or 'ref'"),
        ({"branch": "main", "commit": "not-a-sha"}, "hex sha"),
        ({"event": "pull_request", "branch": "main"}, "needs 'pull_request'"),
        ({"branch": "main", "changed_files": "a.py"}, "changed_files"),
        ({"branch": ["main"]}, "field 'branch': Input should be a valid string"),
    ],
)
def test_malformed_fields_name_the_problem(fields, message):
    raw = json.dumps(fields).encode()
    with pytest.raises(BadRequest, match=message):
        generic.parse(generic_headers(raw, SECRET), raw)
