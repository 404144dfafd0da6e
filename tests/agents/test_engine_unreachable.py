"""An agent whose Docker engine cannot be reached: a `runner agent` process pointed at a socket
that does not exist claims nothing while a build waits, shows itself as "engine unreachable"
in the API, `runner agent ls` and the admin Agents page, and says so in its own log once
rather than failing builds with a raw connection error."""

from __future__ import annotations

import html
import re
import time

import pytest

from tests.agents.harness import SLUG, AgentProcess, Fleet, pipeline

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_an_agent_without_its_engine_claims_nothing_and_shows_engine_unreachable(
    docker_client, tmp_path
):
    with Fleet(tmp_path) as fleet:
        server = fleet.server
        agent = AgentProcess(
            server, tmp_path, "no-engine", extra_env={"DOCKER_HOST": "unix:///nonexistent"}
        ).start()
        fleet.agents.append(agent)
        sha = fleet.forge.push({".drone.yml": pipeline("default", "echo never runs")})
        made = server.hook(
            SLUG,
            fleet.repo["webhook_secret"],
            {"event": "push", "ref": "refs/heads/main", "commit": sha},
        )
        number = made["build"]["number"]

        deadline = time.monotonic() + 120
        while not (listed := server.ok("GET", "/agents"))[0]["unhealthy"]:
            assert time.monotonic() < deadline, f"never unhealthy:\n{agent.log()}"
            time.sleep(0.2)
        assert listed[0]["name"] == "no-engine"
        assert "cannot reach the Docker engine" in listed[0]["unhealthy"], listed
        # A few of its probes later, the build still waits, untouched, and says why.
        until = time.monotonic() + 4
        while time.monotonic() < until:
            build = server.build(SLUG, number)
            assert build["status"] == "pending", build
            assert build["stages"][0]["attempts"] == 0, build
            time.sleep(0.5)
        waiting = server.ok("GET", f"/repos/{SLUG}/builds/{number}/waiting")
        assert "agent no-engine is unhealthy" in waiting[0]["reason"], waiting

        listing = server.cli("agent", "ls", "--server", server.url, "--token", server.admin)
        row = next(line for line in listing.splitlines() if line.startswith("no-engine"))
        assert "engine unreachable: cannot reach the Docker engine" in row, listing

        # The admin's Agents page, in the agent's row: engine unreachable, with the reason.
        page = server.http.get(
            server.url + "/admin/agents",
            headers={"Authorization": f"Bearer {server.admin}"},
            timeout=30,
        )
        assert page.status_code == 200, page.text
        engine = _engine_cell(page.text, "no-engine")
        assert engine.startswith("engine unreachable"), engine
        assert " ".join(listed[0]["unhealthy"].split()) in engine, (engine, listed)
        assert "it takes no stages until the engine answers" in engine, engine

        log = agent.log()
        assert log.count("engine unavailable, not taking stages") == 1, log
        assert "Traceback" not in log, log


def _engine_cell(page: str, name: str) -> str:
    """The text of the Engine cell of agent ``name``'s row of the Agents page."""
    row = re.search(rf'<tr><td class="mono">{re.escape(name)}</td>(.*?)</tr>', page, re.S)
    assert row, page
    cell = re.search(r"<td data-engine>(.*?)</td>", row.group(1), re.S)
    assert cell, row.group(0)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell.group(1))).split())
