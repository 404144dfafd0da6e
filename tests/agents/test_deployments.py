"""Deployment records through a real server and agent (Docker, git, SQLite): a push to the
branch staging takes is recorded live with the agent that ran it and what its deploy step
reported through /run/runner/deployment.json (image, strategy); a failing deploy is recorded
failed while the earlier one stays live; a tag for production waits for approval and records
its approver; a canary left running is kept as canary with its traffic share beside the live
version. `runner env status` (all environments, one, or an unknown one refused), `runner deploy
ls`, `runner build ls`, `runner build show`, the build's JSON and the deployments API say so."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.agents.harness import SLUG, Fleet

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPORT = (
    'printf \'{"state": "%s", "strategy": "%s", "traffic_share": %s, '
    '"image": "registry.local/app:%s", "message": "%s"}\' '
)


def pipeline(state: str, strategy: str, share: str, *, fail: bool = False) -> str:
    """One busybox deploy step writing its report (or failing before it does)."""
    write = (
        REPORT + f'{state} {strategy} {share} "$$(echo $$DRONE_COMMIT_SHA | cut -c1-7)" '
        f"'{state} by the test' > \"$$RUNNER_DEPLOY_REPORT\""
    )
    commands = ['echo "deploying to $$DRONE_DEPLOY_TO, report at $$RUNNER_DEPLOY_REPORT"']
    commands += ["exit 3"] if fail else [write]
    steps = "".join(f"  - {json.dumps(c)}\n" for c in commands)
    return (
        "kind: pipeline\nname: deploy\nclone:\n  disable: true\nsteps:\n"
        f"- name: deploy\n  image: runner-test/busybox\n  commands:\n{steps}"
        "  when:\n    target: [staging, production]\n"  # a step for the environment
    )


@pytest.fixture
def fleet(docker_client, tmp_path):
    with Fleet(tmp_path) as fleet:
        server = fleet.server
        server.ok(
            "POST", f"/repos/{SLUG}/environments", json={"name": "staging", "branches": ["develop"]}
        )
        server.ok(
            "POST",
            f"/repos/{SLUG}/environments",
            json={"name": "production", "tags": ["v*"], "approval": True},
        )
        fleet.agent("deployer-1")
        yield fleet


def deploy(fleet: Fleet, files: str, *, branch: str = "develop", tag: str = "") -> tuple[int, str]:
    sha = fleet.forge.push({".drone.yml": files}, branch=branch, tag=tag)
    ref = f"refs/tags/{tag}" if tag else f"refs/heads/{branch}"
    return fleet.trigger(sha, ref), sha


def status_of(server, environment: str) -> dict:
    return server.ok("GET", f"/repos/{SLUG}/environments/{environment}/status")


def test_deployments_are_recorded_with_agent_report_approver_and_result(fleet):
    server = fleet.server
    first, first_sha = deploy(fleet, pipeline("live", "rolling", "100"))
    build = server.wait_done(SLUG, first)
    assert build["status"] == "success", build
    log = server.step_log(SLUG, first, 1, 1)
    assert "report at /run/runner/deployment.json" in log
    assert "deploy report: live (rolling, 100% of traffic) image registry.local/app:" in log
    [record] = build["deployments"]
    assert record["environment"] == "staging" and record["state"] == "live"
    assert record["agent"] == "deployer-1"
    assert record["version"] == f"develop@{first_sha[:7]}"
    assert record["image"] == f"registry.local/app:{first_sha[:7]}"
    assert (record["strategy"], record["traffic_share"]) == ("rolling", 100)
    assert record["message"] == "live by the test"

    failing, _ = deploy(fleet, pipeline("live", "rolling", "100", fail=True))
    assert server.wait_done(SLUG, failing)["status"] == "failure"
    staging = status_of(server, "staging")
    assert staging["live"]["build_number"] == first
    assert staging["deploying"] is None
    [failed] = server.ok("GET", f"/repos/{SLUG}/deployments?environment=staging&limit=1")
    assert (failed["build_number"], failed["state"]) == (failing, "failed")

    release, release_sha = deploy(fleet, pipeline("live", "blue-green", "100"), tag="v1.2.0")
    blocked = server.wait(SLUG, release, lambda b: b["status"] == "blocked", what="blocked")
    assert blocked["deployments"][0]["state"] == "blocked"
    assert status_of(server, "production")["deploying"]["build_number"] == release
    bob = server.user("bob")
    server.ok("PUT", f"/repos/{SLUG}/perms/bob", json={"role": "write"})
    server.ok("POST", f"/repos/{SLUG}/builds/{release}/approve", bob)
    assert server.wait_done(SLUG, release)["status"] == "success"
    production = status_of(server, "production")["live"]
    assert (production["version"], production["approved_by"]) == ("v1.2.0", ["bob"])
    assert production["commit"] == release_sha and production["agent"] == "deployer-1"

    canary, _ = deploy(fleet, pipeline("canary", "canary", "20"))
    assert server.wait_done(SLUG, canary)["status"] == "success"
    staging = status_of(server, "staging")
    assert staging["live"]["build_number"] == first, "a canary has not made its version live"
    assert (staging["canary"]["build_number"], staging["canary"]["traffic_share"]) == (canary, 20)

    status_lines = server.cli("env", "status", SLUG).splitlines()
    assert status_lines[0].startswith(f"staging      live: develop@{first_sha[:7]}  build #{first}")
    assert "agent deployer-1  live 100%" in status_lines[0]
    assert status_lines[1].split()[:2] == ["canary:", f"develop@{_sha_of(server, canary)[:7]}"]
    assert "canary 20%" in status_lines[1]
    assert any(
        line.startswith("production   live: v1.2.0") and "approved by bob" in line
        for line in status_lines
    ), status_lines
    history = server.cli("deploy", "ls", SLUG, "--env", "staging").splitlines()
    assert [line.split()[1] for line in history] == ["staging"] * 3
    assert [line.split("build ")[1].split()[0] for line in history] == [
        f"#{n}" for n in (canary, failing, first)
    ]
    assert "canary 20%  canary by the test" in history[0]
    assert "  failed" in history[1] and "live 100%  live by the test" in history[2]
    one = json.loads(server.cli("env", "status", SLUG, "--env", "production", "--json"))
    assert [(s["environment"], s["live"]["version"]) for s in one] == [("production", "v1.2.0")]
    refused = subprocess.run(
        [sys.executable, "-m", "runner", "env", "status", SLUG, "--env", "nowhere"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "404: no environment 'nowhere'" in refused.stderr
    as_json = json.loads(server.cli("deploy", "ls", SLUG, "--json"))
    assert [r["build_number"] for r in as_json] == [canary, release, failing, first]
    shown = server.cli("build", "show", SLUG, str(canary)).splitlines()
    assert shown[1] == "deployed to staging: canary 20%"
    builds = server.cli("build", "ls", SLUG).splitlines()
    assert builds[0].split()[4] == "staging" and builds[1].split()[4] == "production"


def _sha_of(server, number: int) -> str:
    return server.build(SLUG, number)["commit"]
