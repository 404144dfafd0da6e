"""The admin's Agents page: register an agent with its labels and scope (token shown once),
change a registration with the form (refused with the reason when invalid), and read who
changed what; other users cannot."""

from __future__ import annotations

from conftest import csrf_of


def test_admin_registers_and_changes_an_agent_and_the_page_shows_the_history(client_as, stores):
    client = client_as("admin")
    page = client.get("/admin/agents").get_data(as_text=True)
    made = client.post(
        "/admin/agents",
        data={
            "csrf_token": csrf_of(page),
            "name": "edge-1",
            "labels": "env=staging",
            "capacity": "2",
            "allowed_repos": "acme/*",
        },
    )
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    plain = made.get_data(as_text=True).split('id="new-token" readonly value="')[1].split('"')[0]
    edge = stores.agents.find("edge-1")
    assert stores.tokens.verify(plain).agent_id == edge.id
    assert (edge.labels, edge.capacity, edge.allowed_repos) == ({"env": "staging"}, 2, ["acme/*"])

    bad = client.post(
        f"/admin/agents/{edge.id}",
        data={"csrf_token": csrf_of(page), "labels": "env=production", "capacity": "lots"},
    )
    assert bad.status_code == 400
    assert "capacity must be a whole number" in bad.get_data(as_text=True)
    assert stores.agents.get(edge.id).labels == {"env": "staging"}

    changed = client.post(
        f"/admin/agents/{edge.id}",
        data={"csrf_token": csrf_of(page), "labels": "env=production", "capacity": "2"},
    )
    assert changed.status_code == 302
    agent = stores.agents.get(edge.id)
    assert (agent.labels, agent.allowed_repos) == ({"env": "production"}, [])
    html = client.get("/admin/agents").get_data(as_text=True)
    assert "labels env=staging → env=production" in html
    assert "registered: labels env=staging" in html


def test_only_admins_change_agents(client_as, stores):
    agent = stores.agents.create("edge-2", labels={"env": "staging"})
    client = client_as("writer")
    page = client.get("/").get_data(as_text=True)
    answer = client.post(
        f"/admin/agents/{agent.id}", data={"csrf_token": csrf_of(page), "labels": "env=production"}
    )
    assert answer.status_code == 403
    answer = client.post("/admin/agents", data={"csrf_token": csrf_of(page), "name": "mine"})
    assert answer.status_code == 403
    assert stores.agents.get(agent.id).labels == {"env": "staging"}
    assert stores.agents.find("mine") is None
