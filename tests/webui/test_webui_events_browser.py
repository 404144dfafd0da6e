"""The Events pages in Chromium against a real `runner server`: what people did through the API
and the CLI besides builds — a role set, repository settings changed, an environment created and
changed, a secret set, a cron job created and changed, an agent registered and changed, an API
token made — is listed on the repository's Events page (for its admin) and on the server's
(for a server admin, reached from the header) with its actor and time, the same entries the API
answers; a secret's name is shown, never its value."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from runner.testing import ServerProcess
from tests.fixtures.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SLUG = "acme/shop"
SECRET_VALUE = "s3cret-value-never-shown"
PASSWORDS = {"dev": "password-of-dev", "ops": "password-of-ops"}

# What the actions leave in the log, oldest first: (kind, actor, message, repository); the
# repository is empty for the server's own entries (users, agents, tokens).
ACTIONS = [
    ("repo.activated", "admin", f"repository {SLUG} activated", SLUG),
    ("user.created", "admin", "user dev created (user)", ""),
    ("user.created", "admin", "user ops created (user)", ""),
    ("repo.role", "admin", "ops is admin", SLUG),
    ("repo.role", "ops", "dev is write", SLUG),
    ("repo.changed", "ops", "settings changed: timeout", SLUG),
    ("environment.created", "ops", "environment production added", SLUG),
    ("environment.changed", "ops", "environment production changed: lock", SLUG),
    ("secret.set", "ops", "secret deploy_key added (environment production)", SLUG),
    ("cron.created", "dev", "cron nightly added: '0 3 * * *' on main", SLUG),
    ("cron.changed", "dev", "cron nightly changed: schedule 30 2 * * *", SLUG),
    (
        "agent.registered",
        "admin",
        "agent edge-1 registered: labels env=production; capacity 1; allowed_repos any; "
        "allowed_environments any",
        "",
    ),
    ("agent.token", "admin", "agent edge-1: new token", ""),
    ("agent.changed", "admin", "agent edge-1 changed: capacity 1 → 2", ""),
    ("token.created", "dev", "new API token 'laptop' of dev", ""),
]
REPOSITORY_ENTRIES = [(kind, actor, message) for kind, actor, message, repo in ACTIONS if repo]

# Each row of an events table as the person reads it: the time element's datetime and text.
ROWS = """rows => rows.map(r => ({
    id: Number(r.dataset.id),
    kind: r.querySelector('.kind').textContent.trim(),
    actor: r.querySelector('.actor').textContent.trim(),
    message: r.querySelector('.message').textContent.trim(),
    repo: r.querySelector('.repo') ? r.querySelector('.repo').textContent.trim() : null,
    datetime: r.querySelector('time').getAttribute('datetime'),
    shown: r.querySelector('time').textContent.trim(),
}))"""


def _ok(resp, status: int = 200):
    assert resp.status_code == status, f"{resp.request.method} {resp.url}: {resp.text}"
    return resp.json()


@pytest.fixture
def server(tmp_path):
    with ServerProcess(tmp_path / "data", embedded_agent=False) as server:
        yield server


def _act(server: ServerProcess) -> dict[str, str]:
    """Take each action once through the API or the CLI, as admin, ops (the repository's
    admin) and dev (a writer); their tokens."""
    admin = server.token("admin")
    repo = {"slug": SLUG, "forge": "github", "clone_url": "file:///srv/shop.git"}
    _ok(server.api("POST", "/repos", admin, json=repo), 201)
    for login, password in PASSWORDS.items():
        server.cli("user", "add", login, "--password", password)
    tokens = {"admin": admin, "dev": server.token("dev"), "ops": server.token("ops")}
    ops, dev = tokens["ops"], tokens["dev"]
    server.cli("repo", "perms", "set", SLUG, "ops", "admin")
    _ok(server.api("PUT", f"/repos/{SLUG}/perms/dev", ops, json={"role": "write"}))
    _ok(server.api("PATCH", f"/repos/{SLUG}", ops, json={"timeout": 1200}))
    _ok(server.api("POST", f"/repos/{SLUG}/environments", ops, json={"name": "production"}), 201)
    server.cli("env", "set", "--token", ops, SLUG, "production", "--lock")
    server.cli(
        "secret", "add", "--token", ops, SLUG, "deploy_key", SECRET_VALUE,
        "--environment", "production",
    )  # fmt: skip
    server.cli("cron", "add", "--token", dev, SLUG, "nightly", "0 3 * * *")
    cron = {"schedule": "30 2 * * *"}
    _ok(server.api("PATCH", f"/repos/{SLUG}/crons/nightly", dev, json=cron))
    server.cli("agent", "token", "create", "edge-1", "--labels", "env=production")
    agent_id = next(
        a["id"] for a in _ok(server.api("GET", "/agents", admin)) if a["name"] == "edge-1"
    )
    _ok(server.api("PATCH", f"/agents/{agent_id}", admin, json={"capacity": 2}))
    _ok(server.api("POST", "/user/tokens", dev, json={"name": "laptop"}), 201)
    return tokens


def _logged_in(browser, server: ServerProcess, login: str, password: str):
    """A page of a browser context of its own, logged in as ``login``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, server.url, login, password)
    return page


def _rows(page) -> list[dict]:
    page.wait_for_selector("#events tbody tr[data-kind]")
    rows: list[dict] = page.eval_on_selector_all("#events tbody tr[data-kind]", ROWS)
    return rows


def _as_api(rows: list[dict], *, server_page: bool) -> list[tuple]:
    """The rows as the API's entries would give them: id, kind, actor, message, time (and the
    repository on the server's page)."""
    return [
        (r["id"], r["kind"], r["actor"], r["message"], r["datetime"])
        + (((r["repo"] or None),) if server_page else ())
        for r in rows
    ]


def _api_entries(entries: list[dict], *, server_page: bool) -> list[tuple]:
    return [
        (e["id"], e["kind"], e["actor"], e["message"], _iso(e["created"]))
        + ((e["repo"],) if server_page else ())
        for e in entries
    ]


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def _check_times(rows: list[dict], since: float, until: float) -> None:
    """Every row's time is when its action was done (within the test's actions), in words the
    page shows: ``2026-05-01 12:00:00 UTC``."""
    for row in rows:
        when = datetime.fromisoformat(row["datetime"]).timestamp()
        assert int(since) <= when <= until, (row, since, until)
        assert row["shown"] == row["datetime"].replace("T", " ").replace("+00:00", " UTC"), row


def test_the_events_pages_list_settings_secrets_environments_crons_roles_agents_and_tokens(
    browser, server
):
    since = time.time()
    tokens = _act(server)
    until = time.time()
    repo_api = _ok(server.api("GET", f"/repos/{SLUG}/events?limit=500", tokens["ops"]))
    server_api = _ok(server.api("GET", "/events?limit=500", tokens["admin"]))
    for answer in (repo_api, server_api):
        assert SECRET_VALUE not in str(answer)

    # The repository's admin reads its log from the repository's tabs.
    page = _logged_in(browser, server, "ops", PASSWORDS["ops"])
    try:
        assert page.locator("header nav a[href='/admin/events']").count() == 0
        page.goto(f"{server.url}/repos/{SLUG}")
        page.click("nav.actions >> text=Events")
        page.wait_for_url(f"**/repos/{SLUG}/events")
        rows = _rows(page)
        assert [(r["kind"], r["actor"], r["message"]) for r in reversed(rows)] == (
            REPOSITORY_ENTRIES
        )
        assert _as_api(rows, server_page=False) == _api_entries(repo_api, server_page=False)
        _check_times(rows, since, until)
        assert "deploy_key" in page.inner_text("#events")
        assert SECRET_VALUE not in page.content()
    finally:
        page.context.close()

    # A server admin reads the server's log from the header: the server's own entries (users,
    # the agent, the token) among the repository's, which name their repository.
    page = _logged_in(browser, server, "admin", server.admin_password)
    try:
        page.click("header nav a[href='/admin/events']")
        page.wait_for_url("**/admin/events")
        rows = _rows(page)
        assert _as_api(rows, server_page=True) == _api_entries(server_api, server_page=True)
        seen = [(r["kind"], r["actor"], r["message"], r["repo"]) for r in reversed(rows)]
        first = seen.index(ACTIONS[0])  # what the server did at its start comes before
        assert seen[first:] == ACTIONS
        _check_times(rows[: len(seen) - first], since, until)
        assert SECRET_VALUE not in page.content()
    finally:
        page.context.close()
