"""Approval rules and promote/rollback against a real `runner server` and a real agent (Docker):
four-eyes refuses the promoter (API and CLI, one message) and another user's approval lets the
deploy step run; with two approvals required the first keeps the build blocked and says how
many are left, one person counts once, the second releases it, one decline ends another, and
each approval and decline is an entry of the event log with the person who gave it; a
rollback to a commit once live runs without approval where the environment exempts rollbacks
and waits elsewhere, and each rollback has its deployment record (environment, build, who,
approvers, agent, result); a promote or rollback of a build whose pipeline has no step for
the environment is refused with the reason and makes no build."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.agents.harness import SLUG, Fleet

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DEPLOYABLE = """\
kind: pipeline
name: release
clone:
  disable: true
steps:
- name: build
  image: runner-test/busybox
  commands: [echo built]
- name: deploy
  image: runner-test/busybox
  commands: [echo "deploying to $DRONE_DEPLOY_TO"]
  when:
    target: [production, staging, canary]
"""

NO_DEPLOY_STEP = """\
kind: pipeline
name: release
clone:
  disable: true
steps:
- name: build
  image: runner-test/busybox
  commands: [echo built]
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, docker_client):
    """One server and one agent for the module; users alice and bob with write role, and
    environments that only promotes and rollbacks reach."""
    with Fleet(tmp_path_factory.mktemp("approvals")) as fleet:
        server = fleet.server
        fleet.tokens = {}  # login -> API token
        for login in ("alice", "bob", "carol"):
            fleet.tokens[login] = server.user(login)
            server.ok("PUT", f"/repos/{SLUG}/perms/{login}", json={"role": "write"})
        deploys_only = ["promote", "rollback"]
        for name, rules in (
            ("production", {"approval": True, "four_eyes": True}),
            ("canary", {"approval": True, "approvals_required": 2}),
            ("staging", {"approval": True, "rollback_exempt": True}),
        ):
            body = {"name": name, "events": deploys_only, **rules}
            server.ok("POST", f"/repos/{SLUG}/environments", json=body)
        fleet.agent("deployer")
        yield fleet


def _build_of(fleet: Fleet, pipeline: str) -> int:
    """A push build of ``pipeline`` on main (it deploys nowhere), run to success."""
    number = fleet.trigger(fleet.forge.push({".drone.yml": pipeline}))
    done = fleet.server.wait_done(SLUG, number)
    assert done["status"] == "success", done
    return number


def _deploy(fleet: Fleet, number: int, event: str, target: str, login: str) -> dict:
    return fleet.server.ok(
        "POST",
        f"/repos/{SLUG}/builds/{number}/{event}",
        fleet.tokens[login],
        json={"target": target},
    )


def _step_logs(fleet: Fleet, build: dict) -> dict[str, str]:
    stage = build["stages"][0]
    return {
        step["name"]: fleet.server.step_log(SLUG, build["number"], stage["number"], step["number"])
        for step in stage["steps"]
    }


def _log_of(fleet: Fleet, number: int) -> list[tuple[str, str, str]]:
    """The approvals and declines of build ``number`` in the repository's event log, newest
    first: ``(kind, actor, message)``; each has its time."""
    entries = fleet.server.ok("GET", f"/repos/{SLUG}/events?kind=build.&limit=500")
    mine = [
        e
        for e in entries
        if e["subject"] == f"build:{SLUG}#{number}"
        and e["kind"] in ("build.approved", "build.declined")
    ]
    assert all(e["created"] > 0 for e in mine), mine
    return [(e["kind"], e["actor"], e["message"]) for e in mine]


def _deployment_of(fleet: Fleet, number: int) -> tuple:
    """Build ``number``'s own deployment record: ``(environment, build_number, event, sender,
    approved_by, agent, state)``, and whether it has finished."""
    build = fleet.server.build(SLUG, number)
    (record,) = [d for d in build["deployments"] if d["build_number"] == number]
    return (
        record["environment"],
        record["build_number"],
        record["event"],
        record["sender"],
        record["approved_by"],
        record["agent"],
        record["state"],
    ), record["finished"] > 0


def _build_cli(fleet: Fleet, token: str, *args: str) -> subprocess.CompletedProcess:
    """``runner build ARGS`` as the user of ``token``; the finished process (not checked)."""
    server = fleet.server
    return subprocess.run(
        [sys.executable, "-m", "runner", "build", "--server", server.url, "--token", token, *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_four_eyes_refuses_the_promoter_and_another_users_approval_runs_the_deploy_step(fleet):
    server = fleet.server
    source = _build_of(fleet, DEPLOYABLE)
    promoted = _deploy(fleet, source, "promote", "production", "alice")
    number = promoted["number"]
    assert promoted["status"] == "blocked" and promoted["sender"] == "alice"
    waiting = server.ok("GET", f"/repos/{SLUG}/builds/{number}/waiting", fleet.tokens["bob"])
    assert waiting[0]["reason"].startswith(
        "waiting for a person with write access to approve to deploy to production (four-eyes: "
    )
    assert "alice" in waiting[0]["reason"]

    expected = f"four-eyes: alice promoted build #{number} and cannot approve it"
    refused = server.api("POST", f"/repos/{SLUG}/builds/{number}/approve", fleet.tokens["alice"])
    assert refused.status_code == 403 and refused.json()["error"].startswith(expected)
    by_cli = _build_cli(fleet, fleet.tokens["alice"], "approve", SLUG, str(number))
    assert by_cli.returncode == 1 and expected in by_cli.stderr
    assert server.build(SLUG, number)["status"] == "blocked"

    server.ok("POST", f"/repos/{SLUG}/builds/{number}/approve", fleet.tokens["bob"])
    done = server.wait_done(SLUG, number)
    assert done["status"] == "success", done
    assert [(s["name"], s["status"]) for s in done["stages"][0]["steps"]] == [
        ("build", "success"),
        ("deploy", "success"),
    ]
    assert "deploying to production" in _step_logs(fleet, done)["deploy"]
    history = server.ok("GET", f"/repos/{SLUG}/builds/{number}/history", fleet.tokens["bob"])
    assert [(a["login"], a["decision"]) for a in history["approvals"]] == [("bob", "approved")]


def test_two_required_approvals_keep_the_build_blocked_until_the_second(fleet):
    server = fleet.server
    source = _build_of(fleet, DEPLOYABLE)
    number = _deploy(fleet, source, "promote", "canary", "alice")["number"]
    first = _build_cli(fleet, fleet.tokens["alice"], "approve", SLUG, str(number))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[1] == (
        "waiting for 1 more approval (2 required) from people with write access to deploy to canary"
    )
    assert server.build(SLUG, number)["status"] == "blocked"
    assert _log_of(fleet, number) == [("build.approved", "alice", f"build #{number} approved")]
    waiting = server.ok("GET", f"/repos/{SLUG}/builds/{number}/waiting", fleet.tokens["bob"])
    assert waiting[0]["reason"] == (
        "waiting for 1 more approval (2 required) from people with write access to deploy to canary"
    )
    again = server.api("POST", f"/repos/{SLUG}/builds/{number}/approve", fleet.tokens["alice"])
    assert again.status_code == 409
    assert again.json()["error"] == (
        f"alice approved build #{number} already: waiting for 1 more approval (2 required)"
    )
    assert len(_log_of(fleet, number)) == 1  # a refused approval is no entry
    second = server.ok("POST", f"/repos/{SLUG}/builds/{number}/approve", fleet.tokens["bob"])
    assert second["status"] in ("pending", "running")  # released: an agent may have it already
    done = server.wait_done(SLUG, number)
    assert done["status"] == "success", done
    assert "deploying to canary" in _step_logs(fleet, done)["deploy"]
    history = server.ok("GET", f"/repos/{SLUG}/builds/{number}/history", fleet.tokens["bob"])
    assert [(a["login"], a["decision"]) for a in history["approvals"]] == [
        ("alice", "approved"),
        ("bob", "approved"),
    ]
    assert _log_of(fleet, number) == [
        ("build.approved", "bob", f"build #{number} approved"),
        ("build.approved", "alice", f"build #{number} approved"),
    ]

    # One decline ends a build that has some of its approvals.
    other = _deploy(fleet, source, "promote", "canary", "alice")["number"]
    server.ok("POST", f"/repos/{SLUG}/builds/{other}/approve", fleet.tokens["bob"])
    server.ok("POST", f"/repos/{SLUG}/builds/{other}/decline", fleet.tokens["carol"])
    declined = server.build(SLUG, other)
    assert declined["status"] == "declined"
    assert all(s["agent_id"] is None for s in declined["stages"])
    assert _log_of(fleet, other) == [
        ("build.declined", "carol", f"build #{other} declined"),
        ("build.approved", "bob", f"build #{other} approved"),
    ]


def test_a_rollback_runs_without_approval_only_where_rollbacks_are_exempt(fleet):
    server = fleet.server
    source = _build_of(fleet, DEPLOYABLE)
    never_live = _deploy(fleet, source, "rollback", "staging", "alice")
    assert never_live["status"] == "blocked"  # a rollback to what never ran there is a release
    server.ok("POST", f"/repos/{SLUG}/builds/{never_live['number']}/approve", fleet.tokens["bob"])
    assert server.wait_done(SLUG, never_live["number"])["status"] == "success"

    first = never_live["number"]
    assert _deployment_of(fleet, first) == (
        ("staging", first, "rollback", "alice", ["bob"], "deployer", "live"),
        True,
    )

    exempt = _deploy(fleet, source, "rollback", "staging", "alice")
    done = server.wait_done(SLUG, exempt["number"])
    assert done["status"] == "success", (done["stages"], _step_logs(fleet, done))
    assert "deploying to staging" in _step_logs(fleet, done)["deploy"]
    assert server.ok("GET", f"/repos/{SLUG}/builds/{exempt['number']}/history")["approvals"] == []
    # Each rollback has its deployment record: where, which build, who, with what result.
    assert _deployment_of(fleet, exempt["number"]) == (
        ("staging", exempt["number"], "rollback", "alice", [], "deployer", "live"),
        True,
    )
    live = server.ok("GET", f"/repos/{SLUG}/environments/staging/status")["live"]
    assert (live["build_number"], live["commit"]) == (exempt["number"], done["commit"])
    assert _deployment_of(fleet, first)[0][-1] == "superseded"

    guarded = _deploy(fleet, source, "rollback", "production", "alice")
    assert guarded["status"] == "blocked"
    assert _deployment_of(fleet, guarded["number"]) == (
        ("production", guarded["number"], "rollback", "alice", [], "", "blocked"),
        False,
    )
    promoted = _deploy(fleet, source, "promote", "staging", "alice")
    assert promoted["status"] == "blocked"  # the exemption is for rollbacks only
    for number in (guarded["number"], promoted["number"]):
        server.ok("POST", f"/repos/{SLUG}/builds/{number}/decline", fleet.tokens["bob"])
    assert _deployment_of(fleet, guarded["number"]) == (
        ("production", guarded["number"], "rollback", "alice", [], "", "declined"),
        True,
    )


def test_a_promote_or_rollback_of_a_pipeline_without_a_step_for_the_environment_is_refused(
    fleet,
):
    server = fleet.server
    source = _build_of(fleet, NO_DEPLOY_STEP)
    commit = server.build(SLUG, source)["commit"]
    for event in ("promote", "rollback"):
        refused = server.api(
            "POST",
            f"/repos/{SLUG}/builds/{source}/{event}",
            fleet.tokens["alice"],
            json={"target": "production"},
        )
        assert refused.status_code == 422
        assert refused.json()["error"].startswith(
            f"build #{source} (commit {commit[:7]}) has no step for environment production: "
            "its pipeline would deploy nothing; choose a build whose .drone.yml has a step "
            "with `when: {target: production}`"
        )
    by_cli = _build_cli(fleet, fleet.tokens["alice"], "rollback", SLUG, str(source), "staging")
    assert by_cli.returncode == 1
    assert "has no step for environment staging: its pipeline would deploy nothing" in (
        by_cli.stderr
    )
    builds = server.ok("GET", f"/repos/{SLUG}/builds")
    assert builds[0]["number"] == source  # no build was made
    assert _build_of(fleet, NO_DEPLOY_STEP) == source + 1  # and no number was lost
