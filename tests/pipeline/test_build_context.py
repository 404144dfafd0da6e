"""The one event model, ``BuildContext``: its stored form leaves out the delivery's id and
params, it reads back what it stored, its title is the message's first line, and ``[skip ci]``
skips pushes and pull requests only."""

from __future__ import annotations

import pytest

from runner.pipeline.spec import BuildContext


def test_the_stored_form_leaves_out_the_delivery_and_keeps_the_parameters():
    event = BuildContext(
        repo="acme/app",
        event="pull_request",
        branch="main",
        commit="ab" * 20,
        sender="octocat",
        pull_request=7,
        fork=True,
        changed_files=["a.py"],
        delivery_id="d-1",
        params={"VERSION": "3"},
    )
    stored = event.to_dict()
    assert "delivery_id" not in stored and stored["params"] == {"VERSION": "3"}
    assert stored["sender"] == "octocat" and stored["pull_request"] == 7
    again = BuildContext.from_dict({**stored, "delivery_id": "d-2"})
    assert again.delivery_id == "" and again.params == {"VERSION": "3"}
    assert again.to_dict() == stored


def test_a_stored_context_of_an_older_version_reads_with_defaults():
    ctx = BuildContext.from_dict({"event": "tag", "tag": "v1", "unknown_key": 1})
    assert ctx.event == "tag" and ctx.tag == "v1" and ctx.sender == ""


def test_the_title_is_the_first_line_of_the_message():
    assert BuildContext(message="\n  Fix the build\n\nLonger text\n").title == "Fix the build"
    assert BuildContext(message="").title == ""


@pytest.mark.parametrize("marker", ["[skip ci]", "[CI SKIP]", "[Skip CI]"])
@pytest.mark.parametrize("event", ["push", "pull_request"])
def test_skip_markers_anywhere_in_the_message_skip_pushes_and_pull_requests(marker, event):
    ctx = BuildContext(event=event, message=f"Docs only\n\nno build needed {marker}")
    assert ctx.skip_reason() == f"{marker} in the commit message"


@pytest.mark.parametrize("event", ["tag", "cron", "custom", "promote", "rollback"])
def test_other_events_build_whatever_the_message_says(event):
    assert BuildContext(event=event, message="Release [skip ci]").skip_reason() == ""
