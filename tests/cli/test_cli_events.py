"""The event log through a real server: every action the issue lists — builds made by a
webhook, the API, a cron job, a restart, a promote and a rollback; builds cancelled, approved
and declined; repository settings, secrets (names only), registries, environments, crons,
roles, agents, tokens and users — lands in the log with who did it, read back with
`runner events` and the API. Filters (kind, kind prefix, actor, time, paging) select what they
say; a reader cannot read another private repository's log, only a server admin reads the
server's; readers and writers (and anyone, of a public repository) see the entries of builds,
environments and crons, with the same filters and full pages, admins also those of secrets,
registries, roles and settings; bad filters are a 400 with the reason; a secret's value never
appears."""

from __future__ import annotations

import json

import pytest

from runner.testing import LocalRepo, github_push
from tests.cli.conftest import Workstation

SLUG = "acme/events"
SECRET_VALUE = "hunter2-never-logged"
PIPELINE = """\
kind: pipeline
name: default
steps:
- name: hello
  image: runner-test/busybox
  commands: [echo hello]
- name: deploy
  image: runner-test/busybox
  commands: [echo deploy]
  when:
    environment: [production]
"""


def _ok(resp, status: int = 200):
    assert resp.status_code == status, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def logged(server, admin, tmp_path_factory):
    """A repository on which every kind of action has been taken once, by admin, the forge
    user ``dev`` (webhook), ``cron`` and the user ``olga``; their tokens."""
    origin = LocalRepo(tmp_path_factory.mktemp("events-git"))
    sha = origin.commit({".drone.yml": PIPELINE})
    token = admin.ok("user", "token", "admin").strip()

    def api(method: str, path: str, status: int = 200, who: str = "", **body):
        return _ok(server.api(method, path, who or token, json=body or None), status)

    repo = api(
        "POST", "/repos", 201, slug=SLUG, forge="github", clone_url=origin.clone_url, private=True
    )
    api("PATCH", f"/repos/{SLUG}", timeout=1200)
    admin.ok("user", "add", "olga", "--password", "a-long-password")
    admin.ok("repo", "perms", "set", SLUG, "olga", "write")
    olga = admin.ok("user", "token", "olga").strip()
    admin.ok("secret", "add", SLUG, "deploy_key", SECRET_VALUE, "--environment", "production")
    admin.ok("secret", "add", SLUG, "scratch", SECRET_VALUE)
    admin.ok("secret", "rm", SLUG, "scratch")
    api(
        "POST",
        f"/repos/{SLUG}/registries",
        201,
        hostname="ghcr.io",
        username="bot",
        password=SECRET_VALUE,
    )
    api("DELETE", f"/repos/{SLUG}/registries/ghcr.io")
    api(
        "POST",
        f"/repos/{SLUG}/environments",
        201,
        name="production",
        branches=["release/*"],
        approval=True,
    )
    api("PATCH", f"/repos/{SLUG}/environments/production", lock=True)
    admin.ok("cron", "add", SLUG, "nightly", "0 3 * * *")
    admin.ok("cron", "run", SLUG, "nightly")  # build #1, sent by cron
    admin.ok("cron", "rm", SLUG, "nightly")
    headers, body = github_push(SLUG, origin, sha, repo["webhook_secret"])
    assert server.post_hook(SLUG, headers, body).status_code in (200, 201)  # build #2 by dev
    api("POST", f"/repos/{SLUG}/builds", 201, who=olga)  # build #3 by olga
    api("POST", f"/repos/{SLUG}/builds/3/cancel", who=olga)
    api("POST", f"/repos/{SLUG}/builds/3/restart", 201)  # build #4
    api("POST", f"/repos/{SLUG}/builds/2/promote", 201, who=olga, target="production")  # #5
    api("POST", f"/repos/{SLUG}/builds/5/approve")
    api("POST", f"/repos/{SLUG}/builds/2/rollback", 201, target="production")  # #6
    api("POST", f"/repos/{SLUG}/builds/6/decline", who=olga)
    api("PUT", f"/repos/{SLUG}/webhook", secret="a-new-webhook-secret")
    api("POST", f"/repos/{SLUG}/environments", 201, name="scratch")
    api("DELETE", f"/repos/{SLUG}/environments/scratch")
    admin.ok("repo", "perms", "rm", SLUG, "olga")
    api("DELETE", f"/repos/{SLUG}")  # deactivated
    # The server's own: an agent, a user's admin right and password, a token revoked.
    admin.ok("agent", "token", "create", "edge-ev", "--labels", "env=production")
    agent_id = next(a["id"] for a in api("GET", "/agents") if a["name"] == "edge-ev")
    api("PATCH", f"/agents/{agent_id}", capacity=2)
    api("DELETE", f"/agents/{agent_id}")
    api("PATCH", "/users/olga", is_admin=True, password="another-long-password")
    made = api("POST", "/user/tokens", 201, who=olga, name="spare")
    api("DELETE", f"/user/tokens/{made['id']}", who=olga)
    return {"admin": token, "olga": olga, "server": server}


def _events(station: Workstation, *args: str) -> list[dict]:
    return json.loads(station.ok("events", *args, "--json"))


def test_every_action_is_in_the_repositorys_log_with_its_actor(admin, logged):
    entries = _events(admin, SLUG, "--limit", "500")
    seen = [(e["kind"], e["actor"], e["message"]) for e in reversed(entries)]
    expected = [
        ("repo.activated", "admin", f"repository {SLUG} activated"),
        ("repo.changed", "admin", "settings changed: timeout"),
        ("repo.role", "admin", "olga is write"),
        ("secret.set", "admin", "secret deploy_key added (environment production)"),
        ("secret.set", "admin", "secret scratch added"),
        ("secret.deleted", "admin", "secret scratch deleted"),
        ("registry.set", "admin", "registry ghcr.io added (user bot)"),
        ("registry.deleted", "admin", "registry ghcr.io deleted"),
        ("environment.created", "admin", "environment production added"),
        ("environment.changed", "admin", "environment production changed: lock"),
        ("cron.created", "admin", "cron nightly added: '0 3 * * *' on main"),
        ("build.created", "cron", "build #1 created: cron nightly of main"),
        ("cron.run", "admin", "cron nightly run by hand: build #1"),
        ("cron.deleted", "admin", "cron nightly deleted"),
        ("build.created", "dev", "build #2 created: push of main"),
        ("build.created", "olga", "build #3 created: custom of main"),
        ("build.cancelled", "olga", "build #3 cancelled"),
        ("build.restarted", "admin", "build #4 restarts #3"),
        ("build.promoted", "olga", "build #5 promotes #2 to production"),
        ("build.approved", "admin", "build #5 approved"),
        ("build.rolled_back", "admin", "build #6 rolls production back to #2"),
        ("build.declined", "olga", "build #6 declined"),
        ("repo.webhook_secret", "admin", "webhook secret set"),
        ("environment.created", "admin", "environment scratch added"),
        ("environment.deleted", "admin", "environment scratch deleted"),
        ("repo.role", "admin", "olga has no role"),
        ("repo.deactivated", "admin", f"repository {SLUG} deactivated"),
    ]
    # Build messages end with the commit's short sha.
    assert [(k, a, m.split(" (")[0] if k.startswith("build.") else m) for k, a, m in seen] == (
        expected
    )
    assert all(e["repo"] == SLUG and e["created"] > 0 for e in entries)
    assert {e["subject"] for e in entries if e["kind"].startswith("build.")} == {
        f"build:{SLUG}#{n}" for n in range(1, 7)
    }
    text = admin.ok("events", SLUG)
    assert "\tolga\tbuild.cancelled\tbuild #3 cancelled" in text
    assert SECRET_VALUE not in text


def test_the_server_log_has_the_servers_own_entries_and_every_repositorys(admin, logged):
    entries = _events(admin, "--limit", "500")
    mine = {(e["kind"], e["repo"], e["actor"]) for e in entries}
    assert ("user.created", None, "admin") in mine
    assert ("token.created", None, "admin") in mine
    assert ("agent.registered", None, "admin") in mine
    assert ("build.declined", SLUG, "olga") in mine
    registered = "agent edge-ev registered: labels env=production; capacity 1"
    assert any(e["message"].startswith(registered) for e in entries)
    server_own = [(e["kind"], e["actor"], e["message"]) for e in entries if e["repo"] is None]
    assert server_own[:7] == [
        ("token.revoked", "olga", "API token 'spare' of olga revoked"),
        ("token.created", "olga", "new API token 'spare' of olga"),
        ("user.password", "admin", "password of olga changed"),
        ("user.admin", "admin", "olga made a server admin"),
        ("agent.removed", "admin", "agent edge-ev removed, its tokens revoked"),
        ("agent.changed", "admin", "agent edge-ev changed: capacity 1 → 2"),
        ("agent.token", "admin", "agent edge-ev: new token"),
    ]
    text = admin.ok("events", "--kind", "agent.")
    assert "\tadmin\tagent.registered\t-\tagent edge-ev registered" in text
    only = _events(admin, "--kind", "build.", "--limit", "500")
    assert {e["repo"] for e in only} == {SLUG}


def test_a_secret_value_appears_nowhere_in_either_log(logged):
    server = logged["server"]
    for path in (f"/repos/{SLUG}/events?limit=500", "/events?limit=500"):
        resp = server.api("GET", path, logged["admin"])
        assert resp.status_code == 200 and SECRET_VALUE not in resp.text


def test_filters_select_by_kind_prefix_actor_time_and_page(admin, logged):
    kinds = [e["kind"] for e in _events(admin, SLUG, "--kind", "build.")]
    assert set(kinds) == {
        "build.created",
        "build.cancelled",
        "build.restarted",
        "build.promoted",
        "build.approved",
        "build.rolled_back",
        "build.declined",
    }
    exact = _events(admin, SLUG, "--kind", "build.created")
    assert [e["actor"] for e in exact] == ["olga", "dev", "cron"]
    by_olga = _events(admin, SLUG, "--actor", "olga")
    assert [e["kind"] for e in by_olga] == [
        "build.declined",
        "build.promoted",
        "build.cancelled",
        "build.created",
    ]
    assert _events(admin, SLUG, "--actor", "nobody") == []
    assert _events(admin, SLUG, "--since", "2099-01-01") == []
    assert len(_events(admin, SLUG, "--since", "1h", "--limit", "500")) == 27
    assert _events(admin, SLUG, "--until", "2001-01-01T00:00") == []
    first = _events(admin, SLUG, "--limit", "5")
    rest = _events(admin, SLUG, "--limit", "500", "--before", str(first[-1]["id"]))
    assert len(first) == 5 and len(first) + len(rest) == 27
    assert [e["id"] for e in first + rest] == sorted((e["id"] for e in first + rest), reverse=True)


def test_a_reader_reads_only_the_logs_of_repositories_they_may_read(admin, server, logged):
    hidden = {"slug": "acme/hidden", "clone_url": "file:///srv/hidden.git", "private": True}
    _ok(server.api("POST", "/repos", logged["admin"], json=hidden), 201)
    admin.ok("user", "add", "rita", "--password", "a-long-password")
    admin.ok("repo", "perms", "set", SLUG, "rita", "read")
    rita = admin.ok("user", "token", "rita").strip()
    assert server.api("GET", f"/repos/{SLUG}/events", rita).status_code == 200
    hidden = server.api("GET", "/repos/acme/hidden/events", rita)
    assert hidden.status_code == 404  # a private repository she cannot read is not revealed
    refused = server.api("GET", "/events", rita)
    assert refused.status_code == 403 and "server admin" in refused.json()["error"]
    assert server.api("GET", f"/repos/{SLUG}/events").status_code == 401
    reader = Workstation(
        admin.home.parent / "rita-home", RUNNER_SERVER=server.url, RUNNER_TOKEN=rita
    )
    assert "403" in reader.fails("events")
    assert "build #3 cancelled" in reader.ok("events", SLUG)


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("kind=DROP%20TABLE", "kind"),
        ("kind=" + "a" * 60, "kind"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("limit=ten", "limit"),
        ("before=-1", "before"),
        ("since=yesterday", "since"),
        ("until=2026-13-45", "until"),
        ("actor=" + "x" * 250, "actor"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(logged, query, word):
    server = logged["server"]
    for path in (f"/repos/{SLUG}/events", "/events"):
        resp = server.api("GET", f"{path}?{query}", logged["admin"])
        assert resp.status_code == 400, resp.text
        assert word in resp.json()["error"]
    missing = server.api("GET", "/events?repo=acme/none", logged["admin"])
    assert missing.status_code == 404


def test_the_server_log_narrows_to_one_repository(logged):
    server = logged["server"]
    resp = server.api("GET", f"/events?repo={SLUG}&kind=build.cancelled", logged["admin"])
    assert [(e["repo"], e["message"].split(" (")[0]) for e in resp.json()] == [
        (SLUG, "build #3 cancelled")
    ]


ADMINS_ONLY = ("repo.", "secret.", "registry.")


def test_readers_and_writers_see_builds_environments_and_crons_admins_every_entry(
    admin, server, logged
):
    admin.ok("user", "add", "rhea", "--password", "a-long-password")
    admin.ok("user", "add", "walt", "--password", "a-long-password")
    admin.ok("repo", "perms", "set", SLUG, "rhea", "read")
    admin.ok("repo", "perms", "set", SLUG, "walt", "write")
    everything = _events(admin, SLUG, "--limit", "500")
    assert {e["kind"].split(".")[0] for e in everything} == {
        "repo",
        "secret",
        "registry",
        "build",
        "environment",
        "cron",
    }
    shown = [e for e in everything if not e["kind"].startswith(ADMINS_ONLY)]
    assert len(shown) == 16
    for login in ("rhea", "walt"):
        token = admin.ok("user", "token", login).strip()
        station = Workstation(
            admin.home.parent / f"{login}-home", RUNNER_SERVER=server.url, RUNNER_TOKEN=token
        )
        assert _events(station, SLUG, "--limit", "500") == shown
        assert _events(station, SLUG, "--kind", "secret.") == []
        assert _events(station, SLUG, "--kind", "repo.role") == []
        assert _events(station, SLUG, "--actor", "admin", "--kind", "environment.") == [
            e for e in shown if e["kind"].startswith("environment.")
        ]
        first = _events(station, SLUG, "--limit", "5")
        rest = _events(station, SLUG, "--limit", "500", "--before", str(first[-1]["id"]))
        assert first + rest == shown  # a page holds five entries the reader may see
        text = station.ok("events", SLUG, "--limit", "500")
        assert "deploy_key" not in text and "ghcr.io" not in text and "olga is" not in text
        assert "build #3 cancelled" in text and "cron nightly deleted" in text
        resp = server.api("GET", f"/repos/{SLUG}/events?kind=registry.", token)
        assert resp.status_code == 200 and resp.json() == []
    assert [e["message"] for e in _events(admin, SLUG, "--kind", "secret.")] == [
        "secret scratch deleted",
        "secret scratch added",
        "secret deploy_key added (environment production)",
    ]


def test_in_a_public_repository_a_user_without_a_role_sees_no_secret_entries(admin, server, logged):
    public = {"slug": "acme/open", "clone_url": "file:///srv/open.git", "private": False}
    _ok(server.api("POST", "/repos", logged["admin"], json=public), 201)
    admin.ok("secret", "add", "acme/open", "open_key", SECRET_VALUE)
    env = {"name": "staging"}
    _ok(server.api("POST", "/repos/acme/open/environments", logged["admin"], json=env), 201)
    admin.ok("user", "add", "pat", "--password", "a-long-password")
    pat = admin.ok("user", "token", "pat").strip()
    seen = _ok(server.api("GET", "/repos/acme/open/events", pat))
    assert [e["kind"] for e in seen] == ["environment.created"]
    kinds = [e["kind"] for e in _ok(server.api("GET", "/repos/acme/open/events", logged["admin"]))]
    assert kinds == ["environment.created", "secret.set", "repo.activated"]
