"""``runner user``: local accounts, API tokens and agent tokens, through the server's API (as
a server admin; ``runner login`` first).

The first admin is made by the server itself (``runner server`` on first start, or
``runner server init`` before it ever runs), which is also how to recover a lost admin password
on the server's machine.
"""

from __future__ import annotations

import secrets as _secrets

import click

from runner.commands.agent import print_new_agent_token
from runner.commands.api_client import api_options, client, quoted


def register(group: click.Group) -> None:
    group.add_command(user)


@click.group()
@api_options
def user() -> None:
    """Manage users, API tokens and agent tokens."""


@user.command("ls")
@api_options
def list_users() -> None:
    """List the users."""
    for u in client().json("GET", "/users"):
        click.echo(f"{u['login']}{'  (admin)' if u.get('is_admin') else ''}")


@user.command("add")
@click.argument("login")
@click.option("--admin", is_flag=True, help="Make the user a server admin.")
@click.option("--password", help="The password; generated and printed when omitted.")
@api_options
def add_user(login: str, admin: bool, password: str | None) -> None:
    """Add a local user."""
    shown = password is None
    password = password or _secrets.token_urlsafe(12)
    body = {"login": login, "password": password, "is_admin": admin}
    client().call("POST", "/users", json=body)
    click.echo(f"user {login} added" + (f"; password {password}" if shown else ""))


@user.command("passwd")
@click.argument("login")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@api_options
def set_password(login: str, password: str) -> None:
    """Set a user's password; the user's open sessions end (API tokens stay valid)."""
    client().call("PATCH", f"/users/{quoted(login)}", json={"password": password})
    click.echo(f"password of {login} changed; the user's sessions are ended")


@user.command("token")
@click.argument("login")
@click.option("--name", default="cli", show_default=True, help="A name to recognise the token.")
@api_options
def create_token(login: str, name: str) -> None:
    """Create an API token for LOGIN and print it (shown once)."""
    made = client().json("POST", f"/users/{quoted(login)}/tokens", json={"name": name})
    click.echo(made["token"])


@user.command("agent-token")
@click.argument("name")
@click.option("--labels", help="Agent labels k=v,k2=v2 (a leading ! requires it).")
@click.option("--capacity", type=int, help="Stages at a time (default 1).")
@click.option("--repos", help="Repository slug patterns it may serve (default: any).")
@click.option("--environments", help="Environments it may deploy (default: any).")
@api_options
def create_agent_token(
    name: str,
    labels: str | None,
    capacity: int | None,
    repos: str | None,
    environments: str | None,
) -> None:
    """Register agent NAME with its labels, capacity and scope and print a new token (shown
    once) for `runner agent --token`. For an agent that exists, the options given change its
    registration and the others stay. The agent can never claim beyond its registration."""
    print_new_agent_token(name, labels, capacity, repos, environments)
