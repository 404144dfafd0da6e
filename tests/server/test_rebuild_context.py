"""A restart or promote starts from the event the forge described: the stored context of the
build (pull request, fork, link, avatar) under the build's own columns, with the new sender and
number and the parameters it was asked with; the delivery's id stays with the delivery."""

from __future__ import annotations

from test_trigger import SIMPLE, Origin, add_repo, close_services, make_services

from runner.pipeline.spec import BuildContext
from runner.server.trigger import rebuild_context


def test_a_restart_keeps_what_the_forge_said_about_the_pull_request(tmp_path):
    origin = Origin(tmp_path / "git")
    origin.commit({".drone.yml": SIMPLE}, "base")
    sha = origin.pull_request(7, {"retry.txt": "3\n"}, "Add a retry")
    hub = make_services(tmp_path)
    try:
        repo = add_repo(hub, origin)
        event = BuildContext(
            event="pull_request",
            ref="refs/pull/7/head",
            commit=sha,
            branch="main",
            source_branch="retry",
            target_branch="main",
            pull_request=7,
            action="opened",
            fork=True,
            link="https://forge.example/acme/app/pull/7",
            author_avatar="https://forge.example/avatars/ada.png",
            sender="ada",
            message="Add a retry",
            delivery_id="d-7",
            params={"VERSION": "3"},
        )
        first = hub.triggerer.trigger(repo, event)
        again = hub.triggerer.restart(repo, first, sender="bob")
    finally:
        close_services(hub)
    assert again.parent == first.number and again.number == first.number + 1
    assert again.commit == sha and again.sender == "bob"
    kept = ("event", "ref", "pull_request", "fork", "source_branch", "action", "link")
    assert {k: again.context[k] for k in kept} == {k: first.context[k] for k in kept}
    assert again.context["author_avatar"] == "https://forge.example/avatars/ada.png"
    assert again.context["sender"] == "bob" and again.context["build_number"] == again.number
    assert "delivery_id" not in again.context
    assert again.context["params"] == {"VERSION": "3"}  # run again as it was asked for


def test_the_build_columns_win_over_an_incomplete_stored_context(tmp_path):
    origin = Origin(tmp_path / "git")
    sha = origin.commit({".drone.yml": SIMPLE}, "first")
    hub = make_services(tmp_path)
    try:
        repo = add_repo(hub, origin)
        event = BuildContext(event="push", ref="refs/heads/main", branch="main", commit=sha)
        build = hub.triggerer.trigger(repo, event)
    finally:
        close_services(hub)
    build.context = {}  # a build stored before the context held these fields
    again = rebuild_context(build, sender="ops")
    assert (again.event, again.branch, again.commit, again.ref) == ("push", "main", sha, build.ref)
    assert again.parent == build.number and again.sender == "ops" and again.remote_url == ""
