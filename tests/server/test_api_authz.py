"""Every API and RPC endpoint answered for each kind of caller: none, read, write, repository
admin, server admin, a user without a role, and an agent."""

from __future__ import annotations

import itertools

import pytest

from tests.server.conftest import ADMIN_PASSWORD, auth, seed_build

# Weakest first; "admin" is the server admin, who holds every role.
LEVELS = ("read", "write", "owner", "admin")
COUNTER = itertools.count()


def _endpoints(build_number: int, token_id: int):
    """(method, path, body factory, level needed) for every user-facing endpoint."""
    repo = "/api/v1/repos/acme/app"
    build = f"{repo}/builds/{build_number}"
    return [
        ("GET", "/api/v1/user", None, "user"),
        ("GET", "/api/v1/user/tokens", None, "user"),
        ("POST", "/api/v1/user/tokens", lambda: {"name": f"t{next(COUNTER)}"}, "user"),
        ("DELETE", f"/api/v1/user/tokens/{token_id}", None, "self"),
        ("GET", "/api/v1/users", None, "admin"),
        (
            "POST",
            "/api/v1/users",
            lambda: {"login": f"u{next(COUNTER)}", "password": "longenough1"},
            "admin",
        ),
        ("PATCH", "/api/v1/users/reader", lambda: {"password": "another-pass"}, "admin"),
        ("DELETE", "/api/v1/users/nobody", None, "admin"),
        ("GET", "/api/v1/agents", None, "admin"),
        ("GET", "/api/v1/agents/status", None, "admin"),
        ("POST", "/api/v1/agents", lambda: {"name": f"a{next(COUNTER)}"}, "admin"),
        ("PATCH", "/api/v1/agents/999", lambda: {"capacity": 2}, "admin"),
        ("GET", "/api/v1/agents/999/history", None, "admin"),
        ("DELETE", "/api/v1/agents/999", None, "admin"),
        ("GET", "/api/v1/repos", None, "user"),
        (
            "POST",
            "/api/v1/repos",
            lambda: {"slug": f"acme/r{next(COUNTER)}", "clone_url": "file:///x"},
            "admin",
        ),
        ("GET", repo, None, "read"),
        ("PATCH", repo, lambda: {"timeout": 600}, "owner"),
        ("GET", f"{repo}/perms", None, "owner"),
        ("PUT", f"{repo}/perms/reader", lambda: {"role": "read"}, "owner"),
        ("DELETE", f"{repo}/perms/nobody", None, "owner"),
        ("GET", f"{repo}/builds", None, "read"),
        ("GET", build, None, "read"),
        ("GET", f"{build}/logs/1/1", None, "read"),
        ("GET", f"{build}/logs/1/1/stream", None, "read"),
        # The event stream of the walk's finished step (id 1): its log, then the end. A log
        # of a repository the caller may not read ends at once the same way (ids tell nothing).
        ("GET", "/api/v1/stream?log=1", None, "user"),
        ("GET", f"{build}/logs/1/1/search?q=hi", None, "read"),
        ("GET", f"{build}/logs/1/1/lines?from=1&count=10", None, "read"),
        ("POST", f"{build}/approve", None, "write"),
        ("POST", f"{build}/decline", None, "write"),
        ("GET", f"{repo}/secrets", None, "owner"),
        ("POST", f"{repo}/secrets", lambda: {"name": f"s{next(COUNTER)}", "value": "v"}, "owner"),
        ("PUT", f"{repo}/secrets/fixed", lambda: {"value": "v2"}, "owner"),
        ("PATCH", f"{repo}/secrets/fixed", lambda: {"events": ["tag"]}, "owner"),
        ("DELETE", f"{repo}/secrets/nothing", None, "owner"),
        ("GET", f"{repo}/registries", None, "owner"),
        (
            "POST",
            f"{repo}/registries",
            lambda: {"hostname": f"r{next(COUNTER)}.io", "username": "u", "password": "p"},
            "owner",
        ),
        ("DELETE", f"{repo}/registries/nothing.io", None, "owner"),
        ("GET", f"{repo}/crons", None, "read"),
        (
            "POST",
            f"{repo}/crons",
            lambda: {"name": f"c{next(COUNTER)}", "schedule": "0 3 * * *"},
            "write",
        ),
        ("PATCH", f"{repo}/crons/nothing", lambda: {"enabled": False}, "write"),
        ("DELETE", f"{repo}/crons/nothing", None, "write"),
        ("GET", f"{repo}/environments", None, "read"),
        ("POST", f"{repo}/environments", lambda: {"name": f"env{next(COUNTER)}"}, "owner"),
        ("PATCH", f"{repo}/environments/nothing", lambda: {"lock": True}, "owner"),
        ("DELETE", f"{repo}/environments/nothing", None, "owner"),
        ("GET", f"{repo}/deployments?limit=5", None, "read"),
        ("GET", f"{repo}/deployments/status", None, "read"),
        ("GET", f"{repo}/environments/nothing/status", None, "read"),
        ("GET", f"{build}/waiting", None, "read"),
        ("GET", f"{build}/history", None, "read"),
        ("GET", f"{repo}/events", None, "read"),
        ("GET", "/api/v1/events", None, "admin"),
        ("GET", "/api/v1/queue", None, "admin"),
        ("POST", f"{build}/promote", lambda: {"target": "nowhere"}, "write"),
        ("POST", f"{build}/rollback", lambda: {"target": "nowhere"}, "write"),
        ("POST", f"{repo}/builds", lambda: {"branch": "main"}, "write"),
        ("POST", f"{build}/restart", None, "write"),
        ("POST", f"{build}/rerun-failed", None, "write"),
        ("POST", f"{build}/cancel", None, "write"),
        ("DELETE", repo, None, "owner"),
        # The CLI's calls: a token for a login and password (anyone holding them), an admin's
        # token for a user, a repository's webhook, running a cron job now, removal with history.
        (
            "POST",
            "/api/v1/tokens",
            lambda: {"login": "admin", "password": ADMIN_PASSWORD},
            "anyone",
        ),
        ("POST", "/api/v1/users/reader/tokens", lambda: {"name": "t"}, "admin"),
        ("GET", f"{repo}/webhook", None, "owner"),
        ("PUT", f"{repo}/webhook", lambda: {}, "owner"),
        ("POST", f"{repo}/crons/nothing/run", None, "write"),
        ("DELETE", f"{repo}/purge", None, "admin"),
        # Prometheus metrics reveal every repository's activity: server admins only (or the
        # metrics_token setting, unset here).
        ("GET", "/metrics", None, "admin"),
    ]


def test_the_walk_covers_every_api_endpoint(app):
    """A new endpoint must be added to the walk below, with the role it needs."""
    adapter = app.url_map.bind("localhost")
    walked = {
        adapter.match(path.split("?")[0], method)[0]
        for method, path, _body, _level in _endpoints(1, 1)
    }
    served = {
        rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
    }
    assert served - walked == set()


def _expected(caller: str, level: str) -> set[int] | None:
    """The refusal a caller gets, or None when the call is allowed."""
    if level == "anyone":
        return None
    if caller == "none":
        return {401}
    if caller == "agent":
        return {403}
    if level == "user":
        return None
    if level == "self":  # a token of the server admin: nobody else learns it exists
        return None if caller == "admin" else {404}
    if caller == "outsider":
        # A private repository is not revealed to a user without a role on it.
        return {403} if level == "admin" else {404}
    if level == "admin":
        return None if caller == "admin" else {403}
    return None if LEVELS.index(caller) >= LEVELS.index(level) else {403}


@pytest.mark.parametrize("caller", ["none", "outsider", "read", "write", "owner", "admin", "agent"])
def test_every_endpoint_checks_the_caller(client, stores, repo, tokens, caller):
    stores.repos.update(repo.id, private=True)
    build = seed_build(stores, repo)
    stores.secrets.set(repo.id, "fixed", "v1")
    # A finished step, so its live stream ends after the stored lines.
    stores.steps.update(build.stages[0].steps[0].id, status="success")
    admin = stores.users.find("admin")
    spare_token, _plain = stores.tokens.create("spare", kind="user", user_id=admin.id)
    token = tokens[caller]
    for method, path, make_body, level in _endpoints(build.number, spare_token.id):
        resp = client.open(
            path, method=method, headers=auth(token), json=make_body() if make_body else None
        )
        refused = _expected(caller, level)
        where = f"{caller} {method} {path}: {resp.status_code} {resp.get_data(as_text=True)[:200]}"
        if refused is None:
            assert resp.status_code not in (401, 403) and resp.status_code < 500, where
        else:
            assert resp.status_code in refused, where
        assert resp.is_json or resp.status_code < 400, where
        assert "Traceback" not in resp.get_data(as_text=True), where


@pytest.mark.parametrize("caller", ["none", "read", "owner", "admin"])
def test_rpc_refuses_everyone_but_agents(client, stores, repo, tokens, caller):
    build = seed_build(stores, repo)
    stage_id = build.stages[0].id
    step_id = build.stages[0].steps[0].id
    calls = [
        ("/rpc/v1/claim", {"timeout": 0}),
        (f"/rpc/v1/stages/{stage_id}/heartbeat", {}),
        (f"/rpc/v1/stages/{stage_id}/steps/{step_id}", {"status": "running"}),
        (f"/rpc/v1/steps/{step_id}/logs?seq=0", None),
        (f"/rpc/v1/stages/{stage_id}/done", {"status": "success"}),
    ]
    for path, body in calls:
        resp = client.post(path, headers=auth(tokens[caller]), json=body)
        assert resp.status_code == (401 if caller == "none" else 403), path
        assert "error" in resp.get_json()


def test_agent_token_opens_the_rpc_for_its_own_stages_only(client, stores, repo, tokens):
    from runner.services.agents import issue_agent_token, register_agent

    build = seed_build(stores, repo)
    stage_id = build.stages[0].id
    step_id = build.stages[0].steps[0].id
    headers = auth(tokens["agent"])
    claimed = client.post("/rpc/v1/claim", headers=headers, json={"timeout": 0})
    assert claimed.status_code == 200
    assert claimed.get_json()["stage"]["id"] == stage_id

    other = issue_agent_token(stores, register_agent(stores, "other", labels={}, capacity=1))
    stranger = auth(other)
    assert client.post(f"/rpc/v1/stages/{stage_id}/heartbeat", headers=stranger).status_code == 403
    assert (
        client.post(
            f"/rpc/v1/steps/{step_id}/logs?seq=0", headers=stranger, data=b"x\n"
        ).status_code
        == 403
    )

    assert client.post(f"/rpc/v1/stages/{stage_id}/heartbeat", headers=headers).get_json() == {
        "cancel": False,
        "lost": False,
    }
    assert (
        client.post(
            f"/rpc/v1/stages/{stage_id}/steps/{step_id}",
            headers=headers,
            json={"status": "running"},
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/rpc/v1/steps/{step_id}/logs?seq=0", headers=headers, data=b"hello\n"
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/rpc/v1/stages/{stage_id}/done", headers=headers, json={"status": "success"}
        ).status_code
        == 200
    )
    assert stores.builds.get(build.id).status == "success"
