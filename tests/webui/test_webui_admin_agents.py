"""The admin's Agents page: register an agent with its labels and scope (token shown once),
change a registration with the form (refused with the reason when invalid), read who
changed what (each change said once, without the agent's name again), see an agent whose engine
is unreachable and the builds its stages run for (never internal ids); other users cannot."""

from __future__ import annotations

import re

from tests.webui.conftest import csrf_of


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

    # As the browser sends the form: every field, an emptied one clears its value.
    changed = client.post(
        f"/admin/agents/{edge.id}",
        data={
            "csrf_token": csrf_of(page),
            "labels": "env=production",
            "capacity": "2",
            "allowed_repos": "",
            "allowed_environments": "",
        },
    )
    assert changed.status_code == 302
    agent = stores.agents.get(edge.id)
    assert (agent.labels, agent.allowed_repos) == ({"env": "production"}, [])
    html = client.get("/admin/agents").get_data(as_text=True)
    assert "labels env=staging → env=production" in html
    assert "registered: labels env=staging" in html


def test_the_page_shows_an_agent_whose_engine_is_unreachable_with_the_reason(client_as, stores):
    sick = stores.agents.create("edge-sick", labels={"env": "staging"})
    stores.agents.create("edge-well", labels={"env": "staging"})
    stores.agents.touch(sick.id, unhealthy="cannot reach the Docker engine: no such socket")
    html = client_as("admin").get("/admin/agents").get_data(as_text=True)
    rows = {
        name: html.split(f'<td class="mono">{name}</td>')[1].split("</tr>")[0]
        for name in ("edge-sick", "edge-well")
    }
    assert "engine unreachable" in rows["edge-sick"]
    assert "cannot reach the Docker engine: no such socket" in rows["edge-sick"]
    assert "engine unreachable" not in rows["edge-well"]


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


def test_registering_an_agent_again_keeps_what_the_page_leaves_empty_as_the_api_does(
    client_as, stores
):
    """One registration for the page, the API and the CLI: for an agent that exists, the
    fields given change it and the others stay, so a new token never resets its scope."""
    client = client_as("admin")
    admin = stores.users.find("admin")
    _token, plain = stores.tokens.create("admin-api", kind="user", user_id=admin.id)
    api = {"Authorization": f"Bearer {plain}"}
    made = client.post(
        "/api/v1/agents",
        headers=api,
        json={
            "name": "edge-3",
            "labels": "env=staging",
            "capacity": 3,
            "allowed_repos": ["acme/*"],
            "allowed_environments": "staging",
        },
    )
    assert made.status_code == 201, made.get_json()
    first_token = made.get_json()["token"]
    registered = ({"env": "staging"}, 3, ["acme/*"], ["staging"])

    def registration():
        a = stores.agents.find("edge-3")
        return (a.labels, a.capacity, a.allowed_repos, a.allowed_environments)

    page = client.get("/admin/agents").get_data(as_text=True)
    empty = {"labels": "", "capacity": "", "allowed_repos": "", "allowed_environments": ""}
    again = client.post(
        "/admin/agents", data={"csrf_token": csrf_of(page), "name": "edge-3", **empty}
    )
    assert again.status_code == 200, again.get_data(as_text=True)
    assert registration() == registered
    assert stores.tokens.verify(first_token) is not None  # a new token revokes no other

    more = client.post(
        "/admin/agents",
        data={"csrf_token": csrf_of(page), "name": "edge-3", **empty, "capacity": "4"},
    )
    assert more.status_code == 200
    assert registration() == ({"env": "staging"}, 4, ["acme/*"], ["staging"])
    # The API takes an empty field the same way, and records the changes alike.
    same = client.post("/api/v1/agents", headers=api, json={"name": "edge-3", **empty})
    assert same.status_code == 201, same.get_json()
    assert registration() == ({"env": "staging"}, 4, ["acme/*"], ["staging"])
    html = client.get("/admin/agents").get_data(as_text=True)
    assert "capacity 3 → 4" in html


def test_a_capacity_that_is_no_whole_number_is_refused_on_the_page_and_the_api(client_as, stores):
    client = client_as("admin")
    admin = stores.users.find("admin")
    _token, plain = stores.tokens.create("admin-api", kind="user", user_id=admin.id)
    page = client.get("/admin/agents").get_data(as_text=True)
    for capacity in ("²", "9" * 5000, "0", "1.5"):
        form = {"csrf_token": csrf_of(page), "name": "edge-4", "capacity": capacity}
        res = client.post("/admin/agents", data=form)
        text = res.get_data(as_text=True)
        assert res.status_code == 400 and "capacity must be" in text, capacity[:20]
        api = client.post(
            "/api/v1/agents",
            headers={"Authorization": f"Bearer {plain}"},
            json={"name": "edge-4", "capacity": capacity},
        )
        assert api.status_code == 400 and "capacity must be" in api.get_json()["error"]
    assert stores.agents.find("edge-4") is None


def test_registration_text_the_database_cannot_store_gets_400_on_the_page_and_the_api(
    client_as, stores
):
    """NUL and lone surrogates in labels, names and scopes: the same rule as the agent RPC's
    labels, never a 500 from the database."""
    client = client_as("admin")
    admin = stores.users.find("admin")
    _token, plain = stores.tokens.create("admin-api", kind="user", user_id=admin.id)
    page = client.get("/admin/agents").get_data(as_text=True)
    bad = [
        ({"labels": {"env": "staging\ud800"}}, "labels"),
        ({"labels": {"\udc00": "production"}}, "labels"),
        ({"labels": "env=a\x00b"}, "labels"),
        ({"allowed_repos": ["acme/\ud800"]}, "allowed_repos"),
        ({"name": "edge\ud800"}, "name"),
    ]
    for fields, word in bad:
        answer = client.post(
            "/api/v1/agents",
            headers={"Authorization": f"Bearer {plain}"},
            json={"name": "edge-5", **fields},
        )
        assert answer.status_code == 400, (fields, answer.get_data(as_text=True))
        assert word in answer.get_json()["error"]
    form = {"csrf_token": csrf_of(page), "name": "edge-5", "labels": "env=a\x00b"}
    res = client.post("/admin/agents", data=form)
    assert res.status_code == 400 and "labels" in res.get_data(as_text=True)
    assert stores.agents.find("edge-5") is None


def test_the_agents_page_names_the_build_a_stage_runs_for(client_as, stores, seeded):
    # The seeded build waiting for an agent with env=production is the one it can take.
    agent = stores.agents.create("build-01", labels={"env": "production"})
    stage = stores.stages.claim(agent)
    assert stage is not None
    build = stores.builds.header(stage.build_id)
    html = client_as("admin").get("/admin/agents").get_data(as_text=True)
    assert f'<a href="/repos/acme/web/{build.number}">acme/web #{build.number}</a>' in html
    assert f"(build {stage.build_id})" not in html


def test_the_history_says_each_change_once_without_repeating_the_agent(client_as, stores):
    client = client_as("admin")
    page = client.get("/admin/agents").get_data(as_text=True)
    client.post(
        "/admin/agents",
        data={"csrf_token": csrf_of(page), "name": "edge-2", "labels": "env=staging"},
    )
    agent = stores.agents.find("edge-2")
    client.post(f"/admin/agents/{agent.id}/revoke", data={"csrf_token": csrf_of(page)})
    html = client.get("/admin/agents").get_data(as_text=True)
    history = html.split("<h2>History</h2>")[1]
    cells = re.findall(r"<td>([^<]*)</td></tr>", history)
    assert cells[:2] == ["tokens revoked", "new token"], cells
    assert cells[2].startswith("registered: labels env=staging; capacity 1"), cells
    assert not [c for c in cells if "agent edge-2" in c or c.startswith(("revoked:", "token:"))]
