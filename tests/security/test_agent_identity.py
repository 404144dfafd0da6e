"""An agent token holds what an admin registered for it: a claim may narrow its labels and
capacity, never widen them; a token restricted to repositories or environments gets only their
stages; environment secrets go only to agents whose registered labels fit; registration changes
are admin-only and kept in the history; a dead agent's long-poll takes no stage; every number of
the agent RPC is checked (400, never 500). Real `runner server` and `runner agent` processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from runner import testing
from runner.labels import narrow
from tests.agents.harness import SLUG, Fleet, add_repo, agent_ids, pipeline

SECRET = "prod-s3cr3t-value"
DEPLOY = """\
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
  - printf 'key-bytes=%s\\n' "$(printf %s "$DEPLOY_KEY" | wc -c | tr -d ' ')"
"""


JSON = {"Content-Type": "application/json"}


def rpc(server, token: str, path: str, body=None, *, headers=None, **kwargs) -> requests.Response:
    """``POST /rpc/v1PATH`` as the agent of ``token``."""
    return requests.post(
        server.url + "/rpc/v1" + path,
        json=body,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        timeout=90,
        **kwargs,
    )


def registered_agent(server, name: str, *options: str) -> str:
    """A token of agent ``name`` registered with ``runner user agent-token NAME OPTIONS``."""
    return server.cli("user", "agent-token", name, *options)


def agent_named(server, name: str) -> dict:
    return next(a for a in server.ok("GET", "/agents") if a["name"] == name)


def production(server, *, labels: dict | None = None) -> None:
    """Environment production for tags v*, with its secret ``deploy_key``."""
    server.ok(
        "POST",
        f"/repos/{SLUG}/environments",
        json={"name": "production", "tags": ["v*"], "labels": labels or {}},
    )
    server.ok(
        "POST",
        f"/repos/{SLUG}/secrets",
        json={"name": "deploy_key", "value": SECRET, "environment": "production"},
    )


@pytest.fixture
def fleet(tmp_path):
    """A server without embedded agent, a forge and repository ``SLUG``."""
    with Fleet(tmp_path) as fleet:
        yield fleet


@pytest.mark.docker
@pytest.mark.slow
def test_staging_token_claiming_as_production_gets_nothing_and_production_gets_its_secret(
    docker_client, fleet, tmp_path
):
    server = fleet.server
    production(server, labels={"env": "production"})
    # A token registered for staging, and a real agent started with production's labels.
    staging_token = registered_agent(server, "staging", "--labels", "env=staging")
    staging = testing.AgentProcess(
        server, tmp_path / "agent-staging", "staging", token=staging_token, labels="env=production"
    )
    fleet.agents.append(staging.start())
    number = fleet.trigger(
        fleet.forge.push({".drone.yml": DEPLOY}, tag="v1.0.0"), "refs/tags/v1.0.0"
    )

    # The refusal is visible: the agents page and the API show what it announced, beyond
    # its registration, while its registered labels stay staging.
    deadline = time.monotonic() + 60
    while agent_named(server, "staging")["declared_beyond"] != ["env=production"]:
        assert time.monotonic() < deadline, staging.log()
        time.sleep(0.2)
    assert agent_named(server, "staging")["labels"] == {"env": "staging"}
    page = requests.get(
        server.url + "/admin/agents", headers={"Authorization": f"Bearer {server.admin}"}
    )
    assert "announces env=production beyond its registration" in page.text
    # The same claim sent by hand, while the production stage is queued: 403, no stage.
    forged = rpc(server, staging_token, "/claim", {"timeout": 0, "labels": {"env": "production"}})
    assert forged.status_code == 403, forged.text
    assert "beyond its registration" in forged.json()["error"]
    assert rpc(server, staging_token, "/claim", {"timeout": 0}).status_code == 204
    assert server.build(SLUG, number)["stages"][0]["status"] == "pending"
    history = server.ok("GET", f"/agents/{agent_named(server, 'staging')['id']}/history")
    assert any(e["kind"] == "agent.refused" and "env=production" in e["message"] for e in history)

    fleet.agent("prod", labels="env=production,!env=production")
    build = server.wait_done(SLUG, number)
    assert build["status"] == "success", build
    stage = build["stages"][0]
    assert stage["agent_id"] == agent_ids(server)["prod"]
    assert stage["attempts"] == 1  # nobody else ever held it
    assert f"key-bytes={len(SECRET)}" in server.step_log(SLUG, number, stage["number"], 1)
    assert SECRET not in staging.log()
    assert agent_named(server, "staging")["labels"] == {"env": "staging"}


def test_environment_secret_goes_only_to_agents_whose_registered_labels_fit(fleet):
    server = fleet.server
    # The environment has no labels when the build is queued, so its stage asks for none;
    # then an admin ties production to env=production agents.
    production(server)
    number = fleet.trigger(
        fleet.forge.push({".drone.yml": DEPLOY}, tag="v1.0.1"), "refs/tags/v1.0.1"
    )
    server.ok(
        "PATCH", f"/repos/{SLUG}/environments/production", json={"labels": {"env": "production"}}
    )
    staging = registered_agent(server, "staging", "--labels", "env=staging")
    answer = rpc(server, staging, "/claim", {"timeout": 5})
    assert answer.status_code == 200, answer.text
    payload = answer.json()
    assert payload["build"]["number"] == number
    assert payload["secrets"] == {}
    assert SECRET not in answer.text
    rpc(server, staging, f"/stages/{payload['stage']['id']}/handback", {"reason": "test"})

    prod = registered_agent(server, "prod", "--labels", "env=production")
    answer = rpc(server, prod, "/claim", {"timeout": 5})
    assert answer.status_code == 200, answer.text
    assert list(answer.json()["secrets"].values()) == [SECRET]


def test_token_restricted_to_repo_a_never_gets_repo_b(fleet):
    server = fleet.server
    other = add_repo(server, fleet.forge, slug="acme/other")
    sha = fleet.forge.push({".drone.yml": pipeline("work", "true")})
    server.hook("acme/other", other["webhook_secret"], {"ref": "refs/heads/main", "commit": sha})
    fleet.trigger(sha)
    token = registered_agent(server, "only-a", "--repos", SLUG, "--capacity", "4")
    first = rpc(server, token, "/claim", {"timeout": 5})
    assert first.status_code == 200, first.text
    assert first.json()["repo"]["slug"] == SLUG
    # The other repository's stage is older and still pending: the token never gets it.
    assert rpc(server, token, "/claim", {"timeout": 1}).status_code == 204
    anyone = registered_agent(server, "anyone")
    taken = rpc(server, anyone, "/claim", {"timeout": 5})
    assert taken.json()["repo"]["slug"] == "acme/other"


def test_token_restricted_to_an_environment_takes_only_its_deploys(fleet):
    server = fleet.server
    production(server)
    fleet.trigger(fleet.forge.push({".drone.yml": pipeline("plain", "true")}))
    number = fleet.trigger(
        fleet.forge.push({".drone.yml": DEPLOY}, tag="v2.0.0"), "refs/tags/v2.0.0"
    )
    token = registered_agent(server, "deployer", "--environments", "production")
    answer = rpc(server, token, "/claim", {"timeout": 5})
    assert answer.status_code == 200, answer.text
    assert answer.json()["build"]["number"] == number  # the older plain build is not its own
    assert rpc(server, token, "/claim", {"timeout": 1}).status_code == 204


def test_claim_never_holds_more_stages_than_the_registered_capacity(fleet):
    server = fleet.server
    for _ in range(3):
        fleet.trigger(fleet.forge.push({".drone.yml": pipeline("work", "true")}))
    token = registered_agent(server, "small", "--capacity", "2")
    for _ in range(2):
        assert rpc(server, token, "/claim", {"timeout": 5, "capacity": 50}).status_code == 200
    assert rpc(server, token, "/claim", {"timeout": 1, "capacity": 50}).status_code == 204
    assert agent_named(server, "small")["capacity"] == 2


def test_admin_changes_labels_by_cli_and_api_with_history_and_a_non_admin_cannot(fleet):
    server = fleet.server
    registered_agent(server, "edge", "--labels", "env=staging")
    agent_id = agent_named(server, "edge")["id"]
    api = ["--server", server.url, "--token", server.admin]
    out = server.cli(
        "agent", "set", "edge", "--labels", "env=production", "--repos", "acme/*", *api
    )
    assert "env=production" in out
    server.ok("PATCH", f"/agents/{agent_id}", json={"capacity": 3})
    edge = agent_named(server, "edge")
    assert (edge["labels"], edge["capacity"], edge["allowed_repos"]) == (
        {"env": "production"},
        3,
        ["acme/*"],
    )

    history = server.ok("GET", f"/agents/{agent_id}/history")
    kinds = [e["kind"] for e in history]
    assert kinds == ["agent.changed", "agent.changed", "agent.token", "agent.registered"]
    assert history[0]["actor"] == "admin" and "capacity 1 → 3" in history[0]["message"]
    assert history[1]["actor"] == "admin"
    assert "labels env=staging → env=production" in history[1]["message"]
    assert "labels env=staging" in history[3]["message"]
    shown = server.cli("agent", "history", "edge", *api)
    assert "admin  agent.changed: agent edge changed: labels env=staging → env=production" in shown

    writer = server.user("writer")
    assert (
        server.api("PATCH", f"/agents/{agent_id}", writer, json={"labels": "env=x"}).status_code
        == 403
    )
    assert server.api("GET", f"/agents/{agent_id}/history", writer).status_code == 403
    refused = subprocess.run(
        [sys.executable, "-m", "runner", "agent", "set", "edge", "--labels", "env=x"]
        + ["--server", server.url, "--token", writer],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "403" in refused.stderr
    assert agent_named(server, "edge")["labels"] == {"env": "production"}
    assert len(server.ok("GET", f"/agents/{agent_id}/history")) == 4

    # A new token for the agent keeps its registration.
    registered_agent(server, "edge")
    assert agent_named(server, "edge")["labels"] == {"env": "production"}
    assert server.ok("GET", f"/agents/{agent_id}/history")[0]["kind"] == "agent.token"


@pytest.mark.docker
@pytest.mark.slow
def test_a_killed_agents_open_long_poll_takes_no_stage(docker_client, tmp_path):
    # A lease far longer than the test: a stage handed to the dead poll would be stuck.
    with Fleet(tmp_path, lease_seconds=600) as fleet:
        server = fleet.server
        dead = fleet.agent("dead", capacity=1)
        deadline = time.monotonic() + 60
        while not agent_named(server, "dead")["last_contact"]:  # its long-poll is open
            assert time.monotonic() < deadline, dead.log()
            time.sleep(0.2)
        time.sleep(0.5)
        dead.kill()
        number = fleet.trigger(fleet.forge.push({".drone.yml": pipeline("work", "echo done")}))
        fleet.agent("live", capacity=1)
        build = server.wait_done(SLUG, number, timeout=120)
        assert build["status"] == "success", build
        stage = build["stages"][0]
        assert stage["agent_id"] == agent_ids(server)["live"]
        assert stage["attempts"] == 1
        events = server.ok("GET", f"/repos/{SLUG}/builds/{number}/history")["events"]
        assert not [e for e in events if e["kind"] == "requeued"]


BAD_CLAIMS = [
    {"timeout": "30"},
    {"timeout": -1},
    {"timeout": [1]},
    {"timeout": True},
    {"timeout": 10**400},
    {"timeout": float("nan")},
    {"capacity": "2"},
    {"capacity": 0},
    {"capacity": 10**30},
    {"capacity": 1.5},
    {"labels": ["env=production"]},
    {"labels": {"env": 5}},
    {"labels": {"env": "a\x00b"}},
    {"labels": {"env": "staging\ud800"}},
    {"labels": {"\udc00": "production"}},
    {"version": 7},
]


def test_a_claim_with_a_wrong_number_or_type_gets_400_with_the_reason(fleet):
    token = registered_agent(fleet.server, "fuzz")
    for body in BAD_CLAIMS:
        # Sent as Python writes it, NaN and 400-digit numbers included.
        sent = json.dumps(body).encode()
        answer = rpc(fleet.server, token, "/claim", data=sent, headers=JSON)
        assert answer.status_code == 400, (body, answer.text)
        assert next(iter(body)) in answer.json()["error"], body
    not_json = rpc(fleet.server, token, "/claim", data=b"{timeout: 1}", headers=JSON)
    assert not_json.status_code == 400, not_json.text


def test_rpc_numbers_out_of_range_get_400_never_500(fleet):
    server = fleet.server
    fleet.trigger(fleet.forge.push({".drone.yml": pipeline("work", "true")}))
    token = registered_agent(server, "fuzz")
    payload = rpc(server, token, "/claim", {"timeout": 5}).json()
    stage, step = payload["stage"]["id"], payload["stage"]["steps"][0]["id"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    cases = [
        (f"/stages/{2**70}/heartbeat", b"{}"),
        (f"/stages/{stage}/steps/{2**70}", b'{"status": "running"}'),
        (f"/stages/{stage}/steps/{step}", b'{"status": ["running"]}'),
        (f"/stages/{stage}/steps/{step}", b'{"status": "running", "exit_code": "1"}'),
        (f"/stages/{stage}/steps/{step}", b'{"status": "running", "started": NaN}'),
        (f"/stages/{stage}/steps/{step}", b'{"status": "running", "finished": 1e999}'),
        (f"/stages/{stage}/steps/{step}", b'{"status": "success", "exit_code": 99999999999}'),
        (f"/steps/{step}/logs?seq=-1", b"line\n"),
        (f"/steps/{step}/logs?seq=x", b"line\n"),
        (f"/steps/{step}/logs?seq={10**30}", b"line\n"),
        (f"/steps/{2**70}/logs?seq=0", b"line\n"),
        (f"/stages/{stage}/done", b'{"status": {}}'),
        (f"/stages/{stage}/done", b'{"status": "success", "steps": [{"id": 1e400}]}'),
        (f"/stages/{stage}/done", b'{"status": "success", "error": 5}'),
        (f"/stages/{stage}/handback", b'{"reason": ["x"]}'),
        ("/claim", b"[" * 100_000 + b"]" * 100_000),
    ]
    for path, data in cases:
        answer = requests.post(
            server.url + "/rpc/v1" + path, data=data, headers=headers, timeout=30
        )
        assert answer.status_code == 400, (path, data[:60], answer.status_code, answer.text)
        assert answer.json()["error"], path
    # None of them changed the stage: it is still this agent's, running.
    assert server.build(SLUG, 1)["stages"][0]["status"] == "running"
    assert rpc(server, token, f"/stages/{stage}/heartbeat", {}).json() == {
        "cancel": False,
        "lost": False,
    }


@pytest.mark.parametrize(
    ("registered", "declared", "claims_with"),
    [
        ({"env": "staging"}, {"env": "staging"}, {"env": "staging"}),
        ({"env": "staging", "gpu": "yes"}, {"env": "staging"}, {"env": "staging"}),
        ({"arch": "linux/*"}, {"arch": "linux/arm64"}, {"arch": "linux/arm64"}),
        ({"!env": "production"}, {}, {"!env": "production"}),
        (
            {"env": "production", "!env": "production"},
            {"env": "production"},
            {"!env": "production"},
        ),
        ({"env": "staging"}, {"env": "production"}, None),
        ({"env": "staging"}, {"env": "*"}, None),
        ({"env": "staging"}, {"env": "staging", "gpu": "yes"}, None),
        ({}, {"env": "production"}, None),
        ({"!env": "production"}, {"!env": "staging"}, None),
    ],
)
def test_an_announcement_narrows_the_registration_never_widens_it(
    registered, declared, claims_with
):
    # Woodpecker's agents set their own labels (WOODPECKER_FILTER_LABELS, docs "Agent
    # configuration") and send them with every `Next` poll of its RPC; here the server's
    # registration is the truth and an announcement can only narrow it.
    assert narrow(registered, declared) == claims_with


@pytest.mark.docker
def test_the_embedded_agent_is_registered_from_the_server_settings(docker_client, tmp_path):
    server = testing.ServerProcess(
        tmp_path / "server", agent_name="inside", extra_env={"RUNNER_AGENT_LABELS": "env=ci"}
    )
    with server:
        admin = server.token("admin")
        agents = server.api("GET", "/agents", admin).json()
        inside = next(a for a in agents if a["name"] == "inside")
        assert (inside["labels"], inside["capacity"]) == ({"env": "ci"}, 2)
        history = server.api("GET", f"/agents/{inside['id']}/history", admin).json()
        assert history[-1]["kind"] == "agent.registered"
        assert history[-1]["actor"] == "server settings"
