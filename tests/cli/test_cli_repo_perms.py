"""`runner repo perms ls|set|rm` list, give and take away users' roles on a repository through
a real server's API: what is set is what the API and the next `ls` show, each change is in the
repository's audit log with who made it, a repository admin may manage roles, a reader is
refused (403) and an unknown user or role is said so."""

from __future__ import annotations

from runner.server.services import open_stores
from runner.settings import load_settings
from tests.cli.conftest import Workstation


def _role_entries(server) -> list[tuple[str, str]]:
    stores = open_stores(load_settings({"data_dir": str(server.data_dir)}, environ={}))
    try:
        entries = stores.audit.matching(subject="repo:acme/roles", kind="repo.role")
    finally:
        stores.db.dispose()
    return [(e.message, e.actor) for e in reversed(entries)]


def test_perms_set_ls_and_rm_are_the_apis_and_audited(admin, server):
    admin.ok("repo", "add", "acme/roles", "--clone-url", "file:///srv/roles.git")
    for login in ("dana", "erin"):
        admin.ok("user", "add", login, "--password", "a-long-password")
    assert admin.ok("repo", "perms", "ls", "acme/roles").strip() == (
        "no user has a role on acme/roles"
    )
    out = admin.ok("repo", "perms", "set", "acme/roles", "dana", "admin")
    assert out.strip() == "dana is admin on acme/roles"
    admin.ok("repo", "perms", "set", "acme/roles", "erin", "write")
    admin.ok("repo", "perms", "set", "acme/roles", "erin", "read")  # replaces write
    assert admin.ok("repo", "perms", "ls", "acme/roles").splitlines() == [
        "dana\tadmin",
        "erin\tread",
    ]
    token = admin.ok("user", "token", "admin").strip()
    members = server.api("GET", "/repos/acme/roles/perms", token=token)
    assert members.status_code == 200
    assert members.json() == [{"login": "dana", "role": "admin"}, {"login": "erin", "role": "read"}]

    assert admin.ok("repo", "perms", "rm", "acme/roles", "erin").strip() == (
        "erin has no role on acme/roles"
    )
    assert admin.ok("repo", "perms", "ls", "acme/roles").splitlines() == ["dana\tadmin"]
    assert _role_entries(server) == [
        ("dana is admin", "admin"),
        ("erin is write", "admin"),
        ("erin is read", "admin"),
        ("erin has no role", "admin"),
    ]


def test_a_repository_admin_may_manage_roles_and_a_reader_may_not(admin, server, tmp_path):
    admin.ok("repo", "add", "acme/team", "--clone-url", "file:///srv/team.git")
    for login in ("lead", "guest"):
        admin.ok("user", "add", login, "--password", "a-long-password")
    admin.ok("repo", "perms", "set", "acme/team", "lead", "admin")
    admin.ok("repo", "perms", "set", "acme/team", "guest", "read")
    lead = admin.ok("user", "token", "lead").strip()
    guest = admin.ok("user", "token", "guest").strip()
    station = Workstation(tmp_path / "home", RUNNER_SERVER=server.url)

    station.ok("repo", "perms", "set", "acme/team", "guest", "write", "--token", lead)
    assert "guest\twrite" in station.ok("repo", "perms", "ls", "acme/team", "--token", lead)
    admin.ok("repo", "perms", "set", "acme/team", "guest", "read")
    for args in (
        ("ls", "acme/team"),
        ("set", "acme/team", "guest", "admin"),
        ("rm", "acme/team", "lead"),
    ):
        assert "403" in station.fails("repo", "perms", *args, "--token", guest), args
    assert admin.ok("repo", "perms", "ls", "acme/team").splitlines() == [
        "guest\tread",
        "lead\tadmin",
    ]


def test_an_unknown_user_or_role_is_said_so(admin):
    admin.ok("repo", "add", "acme/typo", "--clone-url", "file:///srv/typo.git")
    refused = admin.fails("repo", "perms", "set", "acme/typo", "ghost", "read")
    assert "404" in refused and "no user ghost" in refused
    refused = admin.fails("repo", "perms", "set", "acme/typo", "admin", "owner")
    assert "'owner' is not one of 'read', 'write', 'admin'" in refused
    assert "no user ghost" in admin.fails("repo", "perms", "rm", "acme/typo", "ghost")
    assert "no repository acme/nope" in admin.fails("repo", "perms", "ls", "acme/nope")
