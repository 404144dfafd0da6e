"""`runner login` against a real server: wrong credentials are refused with 401 without telling
which part was wrong, repeated wrong passwords are throttled like the web login (429, even for
the right password then), a login is recorded in the audit log; a server that is down is said
so plainly; `--help` of every subcommand works with no server, token or settings; and
`runner server init` makes or recovers the first admin before any server runs; a saved token
is sent only to the server that issued it."""

from __future__ import annotations

import click

from runner.cli import cli
from runner.server.services import open_stores
from runner.settings import load_settings
from runner.testing import ADMIN_PASSWORD, ServerProcess, free_port
from tests.cli.conftest import LOGIN_FILE, Workstation


def command_paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand of ``command`` as the words that call it."""
    found = [path]
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, (path, name)
            found += command_paths(sub, (*path, name))
    return found


def test_wrong_login_or_password_gets_the_same_401_and_saves_nothing(server, tmp_path):
    station = Workstation(tmp_path / "home")
    args = ["login", "--server", server.url, "--password-stdin"]
    wrong_password = station.fails(*args, "-u", "admin", input="not-the-password")
    unknown_login = station.fails(*args, "-u", "nobody", input="not-the-password")
    assert wrong_password.strip() == "Error: 401: wrong login or password"
    assert wrong_password == unknown_login
    assert station.files() == []


def test_the_sixth_wrong_password_in_a_row_is_refused_with_429_even_when_right(server, tmp_path):
    server.cli("user", "add", "erin", "--password", "erins-long-password")
    station = Workstation(tmp_path / "home")
    args = ["login", "--server", server.url, "-u", "erin", "--password-stdin"]
    for _ in range(5):
        assert "401" in station.fails(*args, input="wrong-password")
    refused = station.fails(*args, input="erins-long-password")
    assert "429: too many wrong passwords" in refused
    assert station.files() == []
    # Another login from the same address is not locked out by erin's count.
    assert "logged in" in station.login(server)


def test_a_login_is_recorded_in_the_audit_log(server, tmp_path):
    station = Workstation(tmp_path / "home")
    station.ok(
        "login", "--server", server.url, "-u", "admin", "--password-stdin", "--name", "laptop",
        input=ADMIN_PASSWORD,
    )  # fmt: skip
    stores = open_stores(load_settings({"data_dir": str(server.data_dir)}, environ={}))
    try:
        entries = stores.audit.matching(kind="token.created", subject="user:admin")
    finally:
        stores.db.dispose()
    assert any("'laptop'" in e.message and e.actor == "admin" for e in entries), entries


def test_a_server_that_is_down_is_said_so(tmp_path):
    station = Workstation(tmp_path / "home")
    down = f"http://127.0.0.1:{free_port()}"
    said = station.fails("repo", "ls", "--server", down, "--token", "some-token")
    assert f"cannot reach the server at {down}" in said
    assert "runner server" in said
    said = station.fails("login", "--server", down, "-u", "admin", "--password-stdin", input="x")
    assert f"cannot reach the server at {down}" in said
    assert station.files() == []


def test_help_of_every_subcommand_needs_no_server_token_or_settings(tmp_path):
    station = Workstation(tmp_path / "home")
    paths = command_paths(cli)
    assert ("repo", "add") in paths and ("build", "promote") in paths and ("login",) in paths
    for path in paths:
        out = station.ok(*path, "--help")
        assert out.startswith("Usage: "), (path, out)
    assert station.files() == []


def test_server_init_makes_the_first_admin_and_recovers_its_password(tmp_path):
    station = Workstation(tmp_path / "home")
    data = tmp_path / "data"
    out = station.ok(
        "server", "init", "--data-dir", str(data), "--password-stdin", input="first-long-password"
    )
    assert out.strip() == "server admin admin created"
    again = station.fails("server", "init", "--data-dir", str(data), "--password-stdin", input="x")
    assert "user admin exists" in again and "--reset-password" in again
    out = station.ok("server", "init", "--data-dir", str(data), "--reset-password")
    assert out.startswith("new password of server admin admin set")
    made_up = out.rsplit("password ", 1)[1].strip()
    assert station.files() == []

    with ServerProcess(data, embedded_agent=False) as server:
        station.fails(
            "login", "--server", server.url, "-u", "admin", "--password-stdin",
            input="first-long-password",
        )  # fmt: skip
        assert "logged in" in station.login(server, password=made_up)
        assert station.ok("user", "ls").split() == ["admin", "(admin)"]
    assert station.files() == [LOGIN_FILE]


def test_a_saved_token_goes_only_to_the_server_that_issued_it(server, tmp_path):
    station = Workstation(tmp_path / "home")
    station.login(server)
    assert "admin" in station.ok("user", "ls")  # the saved server is the default
    elsewhere = f"http://127.0.0.1:{free_port()}"
    refused = station.fails("user", "ls", "--server", elsewhere)
    assert f"no API token for {elsewhere}" in refused  # refused before any call is made
    station.env["RUNNER_SERVER"] = elsewhere
    assert f"no API token for {elsewhere}" in station.fails("user", "ls")
