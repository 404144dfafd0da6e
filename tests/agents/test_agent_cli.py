"""`runner agent ls` shows each agent with its labels, capacity, scope, running stages, version,
last contact and whether it is connected; `runner agent token create/revoke` give and take an
agent's access through the API; `runner agent --server ...` still starts an agent."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from runner import testing
from tests.agents.harness import SLUG, Fleet, Server, pipeline


def runner(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``runner ARGS`` with ``env``; the finished process (not checked)."""
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def admin_env(server: Server) -> dict[str, str]:
    """The environment of an admin's workstation: server address and token from RUNNER_*."""
    return {**server.env, "RUNNER_SERVER": server.url, "RUNNER_TOKEN": server.admin}


def table(output: str) -> dict[str, list[str]]:
    """The rows of `runner agent ls` by agent name (columns split on runs of two spaces)."""
    lines = output.strip().splitlines()
    assert lines[0].split() == [
        "NAME", "LABELS", "CAPACITY", "SCOPE", "RUNNING", "VERSION", "LAST", "CONTACT",
        "CONNECTED", "HEALTH",
    ]  # fmt: skip
    rows = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.split("  ") if c.strip()]
        rows[cells[0]] = cells
    return rows


def rpc_status(server: Server, agent_token: str) -> int:
    """The HTTP status of a claim with ``agent_token`` that does not wait (204: no work)."""
    resp = requests.post(
        server.url + "/rpc/v1/claim",
        json={"timeout": 0},
        headers={"Authorization": f"Bearer {agent_token}"},
        timeout=30,
    )
    return resp.status_code


@pytest.mark.docker
@pytest.mark.slow
def test_ls_shows_a_connected_agent_and_its_running_stage(docker_client, tmp_path):
    with Fleet(tmp_path) as fleet:
        server = fleet.server
        env = admin_env(server)
        made = runner(
            env, "agent", "token", "create", "edge-1", "--labels", "region=cn", "--capacity", "2"
        )
        assert made.returncode == 0, made.stderr
        agent_token = made.stdout.strip()

        # Before it ever called, the agent is listed but not connected.
        before = runner(env, "agent", "ls")
        assert before.returncode == 0, before.stderr
        row = table(before.stdout)["edge-1"]
        assert row[1:5] == ["region=cn", "2", "any", "-"]
        assert row[-3:] == ["never", "no", "ok"]

        # `runner agent --server ... --token ...` still starts an agent.
        edge = testing.AgentProcess(
            server, tmp_path / "edge-1", "edge-1", token=agent_token, labels="region=cn"
        ).start()
        fleet.agents.append(edge)
        number = fleet.trigger(fleet.forge.push({".drone.yml": pipeline("long", "sleep 300")}))
        server.wait(SLUG, number, lambda b: b["stages"][0]["status"] == "running", what="running")

        listed = runner(env, "agent", "ls")
        assert listed.returncode == 0, listed.stderr
        row = table(listed.stdout)["edge-1"]
        assert row[1:5] == ["region=cn", "2", "any", f"{SLUG}#{number}/long"]
        assert row[5] != "-"  # the version the agent reported
        assert row[-3].endswith("s ago")
        assert row[-2:] == ["yes", "ok"]

        server.ok("POST", f"/repos/{SLUG}/builds/{number}/cancel")
        assert server.wait_done(SLUG, number)["status"] == "killed"


def test_token_create_then_revoke_opens_then_closes_the_rpc(tmp_path):
    with Server(tmp_path / "server") as server:
        env = admin_env(server)
        made = runner(env, "agent", "token", "create", "edge-2")
        assert made.returncode == 0, made.stderr
        agent_token = made.stdout.strip()
        assert rpc_status(server, agent_token) == 204  # let in; nothing to claim

        # The server options may also come before the subcommand, as for starting an agent.
        bare = {k: v for k, v in env.items() if k not in ("RUNNER_SERVER", "RUNNER_TOKEN")}
        revoked = runner(
            bare, "agent", "--server", server.url, "--token", server.admin,
            "token", "revoke", "edge-2",
        )  # fmt: skip
        assert revoked.returncode == 0, revoked.stderr
        assert "edge-2" in revoked.stdout
        assert rpc_status(server, agent_token) == 401
        assert "edge-2" not in table(runner(env, "agent", "ls").stdout)

        again = runner(env, "agent", "token", "revoke", "edge-2")
        assert again.returncode != 0
        assert "no agent edge-2" in again.stderr


def test_ls_needs_an_admin_token(tmp_path):
    with Server(tmp_path / "server") as server:
        env = {k: v for k, v in server.env.items() if k not in ("RUNNER_SERVER", "RUNNER_TOKEN")}
        missing = runner(env, "agent", "ls", "--server", server.url)
        assert missing.returncode != 0
        assert "--token" in missing.stderr

        user = server.user("dev")
        refused = runner(env, "agent", "ls", "--server", server.url, "--token", user)
        assert refused.returncode != 0
        assert "403" in refused.stderr and "admin" in refused.stderr
