"""``runner login`` and ``runner logout``: an API token from a login and password, saved for the
other commands (see ``runner.commands.api_client`` for where it is kept and when it is used)."""

from __future__ import annotations

import socket
import sys

import click

from runner.commands.api_client import (
    ApiClient,
    login_path,
    remember,
    resolve_server,
    save_login,
    saved_login,
)


def register(group: click.Group) -> None:
    group.add_command(login)
    group.add_command(logout)


@click.command()
@click.option("--server", help="Server address (RUNNER_SERVER; default: the logged-in one).")
@click.option("--login", "-u", "login_name", help="Your login (asked when omitted).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@click.option("--name", help="A name to recognise the token by (default: cli@<host name>).")
@click.pass_context
def login(
    ctx: click.Context,
    server: str | None,
    login_name: str | None,
    password_stdin: bool,
    name: str | None,
) -> None:
    """Log in to a server: exchange your login and password for an API token and save it
    (mode 0600) for the other commands. Wrong passwords are throttled like the web login's."""
    remember(ctx, server=server, token=None)
    url = resolve_server(ctx)
    login_name = login_name or click.prompt("login")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True)
    answer = ApiClient(url, login_hint=False).json(
        "POST",
        "/tokens",
        json={
            "login": login_name,
            "password": password,
            "name": name or f"cli@{socket.gethostname()}",
        },
    )
    saved = {"server": url, "login": answer["login"], "token": answer["token"]}
    path = save_login({**saved, "token_id": answer["id"]})
    click.echo(f"logged in to {url} as {answer['login']}; token saved in {path}")


@click.command()
def logout() -> None:
    """Revoke the saved token on its server and delete the saved login."""
    saved = saved_login()
    path = login_path()
    if not saved and not path.exists():
        click.echo("not logged in")
        return
    server, token = str(saved.get("server", "")), str(saved.get("token", ""))
    if server and token and saved.get("token_id"):
        try:
            ApiClient(server, token).call("DELETE", f"/user/tokens/{saved['token_id']}")
        except click.ClickException as exc:
            # The file goes anyway: logging out must work with the server down.
            click.echo(f"the token could not be revoked on {server}: {exc.message}", err=True)
    path.unlink(missing_ok=True)
    where = f" of {server}" if server else ""
    click.echo(f"logged out{where}; {path} deleted")
