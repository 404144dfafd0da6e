"""Two real agents (env=test, and env=production requiring its label): a push to develop runs
only on the test agent without the production secret; tag v2.0.0 targets production, waits for
approval by a user with the right role, then runs only on the production agent with the
production secret. Bad tokens get 401 and an agent cannot touch a stage it did not claim."""

from __future__ import annotations

import pytest
import requests

from tests.agents.harness import SLUG, AgentProcess, Fleet, agent_ids

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PIPELINE = """\
kind: pipeline
name: deploy
clone:
  disable: true
steps:
- name: show
  image: runner-test/busybox
  environment:
    DEPLOY_KEY:
      from_secret: deploy_key
  commands:
  - echo "target=$DRONE_DEPLOY_TO ci=$CI_PIPELINE_DEPLOY_TARGET"
  - printf 'key-bytes=%s\\n' "$(printf %s "$DEPLOY_KEY" | wc -c | tr -d ' ')"
- name: only-production
  image: runner-test/busybox
  commands:
  - echo deploying
  when:
    target: production
"""


@pytest.fixture
def system(docker_client, tmp_path):
    """The server, forge, repository, and the list of agents stopped at the end."""
    with Fleet(tmp_path) as fleet:
        yield fleet.server, fleet.forge, fleet.repo, fleet.agents


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("+ ")]


def test_environments_route_builds_to_their_agents_with_approval_and_secrets(system, tmp_path):
    server, forge, repo, agents = system
    server.ok(
        "POST",
        f"/repos/{SLUG}/environments",
        json={"name": "test", "branches": ["develop"], "labels": {"env": "test"}},
    )
    server.ok(
        "POST",
        f"/repos/{SLUG}/environments",
        json={
            "name": "production",
            "tags": ["v*"],
            "labels": {"env": "production"},
            "approval": True,
            "lock": True,
        },
    )
    server.ok(
        "POST",
        f"/repos/{SLUG}/secrets",
        json={"name": "deploy_key", "value": "prod-s3cr3t", "environment": "production"},
    )
    reader = server.user("reader")
    writer = server.user("writer")
    for login, role in (("reader", "read"), ("writer", "write")):
        server.ok("PUT", f"/repos/{SLUG}/perms/{login}", json={"role": role})
    test_agent = AgentProcess(server, tmp_path, "agent-test", labels="env=test").start()
    prod_agent = AgentProcess(
        server, tmp_path, "agent-prod", labels="env=production,!env=production"
    ).start()
    agents += [test_agent, prod_agent]

    # A push to develop: environment test, the test agent, no production secret.
    sha = forge.push({".drone.yml": PIPELINE}, branch="develop")
    made = server.hook(
        SLUG,
        repo["webhook_secret"],
        {"event": "push", "ref": "refs/heads/develop", "commit": sha, "message": "dev"},
    )
    develop = server.wait_done(SLUG, made["build"]["number"])
    ids = agent_ids(server)
    assert develop["status"] == "success", develop
    assert develop["target"] == "test"
    stage = develop["stages"][0]
    assert stage["agent_id"] == ids["agent-test"]
    log = lines(server.step_log(SLUG, develop["number"], stage["number"], 1))
    assert log == [
        "warning: secret deploy_key was not given to this step: it is a secret of environment "
        "production, not of this build",
        "target=test ci=test",
        "key-bytes=0",
    ]
    assert [(s["name"], s["status"]) for s in stage["steps"]] == [("show", "success")]

    # Tag v2.0.0: environment production, held for approval.
    sha = forge.push({}, branch="main", tag="v2.0.0")
    made = server.hook(
        SLUG, repo["webhook_secret"], {"event": "tag", "ref": "refs/tags/v2.0.0", "commit": sha}
    )
    number = made["build"]["number"]
    tagged = server.build(SLUG, number)
    assert tagged["status"] == "blocked" and tagged["target"] == "production"
    waiting = server.ok("GET", f"/repos/{SLUG}/builds/{number}/waiting", reader)
    assert "approve to deploy to production" in waiting[0]["reason"]
    refused = server.api("POST", f"/repos/{SLUG}/builds/{number}/approve", reader)
    assert refused.status_code == 403
    assert server.build(SLUG, number)["status"] == "blocked"
    server.ok("POST", f"/repos/{SLUG}/builds/{number}/approve", writer)
    tagged = server.wait_done(SLUG, number)
    assert tagged["status"] == "success", tagged
    stage = tagged["stages"][0]
    assert stage["agent_id"] == ids["agent-prod"]
    log = lines(server.step_log(SLUG, number, stage["number"], 1))
    assert log == ["target=production ci=production", f"key-bytes={len('prod-s3cr3t')}"]
    assert [(s["name"], s["status"]) for s in stage["steps"]] == [
        ("show", "success"),
        ("only-production", "success"),
    ]
    history = server.ok("GET", f"/repos/{SLUG}/builds/{number}/history", reader)
    assert [(a["login"], a["decision"]) for a in history["approvals"]] == [("writer", "approved")]

    # `runner build promote` of the develop build to production waits for approval too;
    # declining it ends it without running anything.
    out = server.cli(
        "build",
        "--server",
        server.url,
        "--token",
        writer,
        "promote",
        SLUG,
        str(develop["number"]),
        "production",
    )
    promoted = int(out.split("#", 1)[1].split(":", 1)[0])
    assert out.endswith("to production, blocked")
    server.ok("POST", f"/repos/{SLUG}/builds/{promoted}/decline", writer)
    declined = server.build(SLUG, promoted)
    assert declined["status"] == "declined" and declined["event"] == "promote"
    assert all(s["agent_id"] is None for s in declined["stages"])

    # Bad input on the agent RPC.
    rpc = f"{server.url}/rpc/v1"

    def post(path: str, token: str, **kwargs):
        return requests.post(
            rpc + path, headers={"Authorization": f"Bearer {token}"}, timeout=30, **kwargs
        )

    assert post("/claim", "not-a-token", json={"timeout": 0}).status_code == 401
    prod_stage, prod_step = stage["id"], stage["steps"][0]["id"]
    foreign = [
        post(f"/stages/{prod_stage}/steps/{prod_step}", test_agent.token, json={"status": "x"}),
        post(f"/steps/{prod_step}/logs?seq=99", test_agent.token, data=b"forged\n"),
        post(f"/stages/{prod_stage}/done", test_agent.token, json={"status": "failure"}),
        post(f"/stages/{prod_stage}/heartbeat", test_agent.token),
    ]
    assert [r.status_code for r in foreign] == [403, 403, 403, 403]
    assert server.build(SLUG, number)["status"] == "success"
    assert "forged" not in server.step_log(SLUG, number, stage["number"], 1)
    user_on_rpc = post("/claim", writer, json={"timeout": 0})
    assert user_on_rpc.status_code == 403

    retired = AgentProcess(server, tmp_path, "agent-retired")
    assert post("/claim", retired.token, json={"timeout": 0}).status_code == 204
    assert (
        server.api(
            "DELETE",
            f"/agents/{ids.get('agent-retired', 0) or agent_ids(server)['agent-retired']}",
            writer,
        ).status_code
        == 403
    )
    server.ok("DELETE", f"/agents/{agent_ids(server)['agent-retired']}")
    assert post("/claim", retired.token, json={"timeout": 0}).status_code == 401
