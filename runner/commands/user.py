"""``runner user``: local accounts, API tokens and agent tokens, straight on the database.

These commands run on the server's machine (they read the same settings and data directory), so
an admin can get a first token, or recover access, without the HTTP API.
"""

from __future__ import annotations

import getpass
import secrets as _secrets

import click

from runner.errors import RunnerError
from runner.settings import load_settings


def register(group: click.Group) -> None:
    group.add_command(user)


def _stores():
    from runner.server.services import open_stores

    return open_stores(load_settings())


@click.group()
def user() -> None:
    """Manage users, API tokens and agent tokens."""


@user.command("ls")
def list_users() -> None:
    """List the users."""
    for u in _stores().users.list():
        click.echo(f"{u.login}{'  (admin)' if u.is_admin else ''}")


@user.command("add")
@click.argument("login")
@click.option("--admin", is_flag=True, help="Make the user a server admin.")
@click.option("--password", help="The password; generated and printed when omitted.")
def add_user(login: str, admin: bool, password: str | None) -> None:
    """Add a local user."""
    from runner.server.accounts import create_user

    shown = password is None
    password = password or _secrets.token_urlsafe(12)
    try:
        create_user(_stores(), login, password, is_admin=admin)
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"user {login} added" + (f"; password {password}" if shown else ""))


@user.command("passwd")
@click.argument("login")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def set_password(login: str, password: str) -> None:
    """Set a user's password; the user's open sessions end (API tokens stay valid)."""
    from runner.server.accounts import change_password

    stores = _stores()
    found = stores.users.find(login)
    if found is None:
        raise click.ClickException(f"no user {login}; see `runner user ls`")
    try:
        change_password(stores, found, password)
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password of {login} changed; the user's sessions are ended")


@user.command("token")
@click.argument("login")
@click.option("--name", default="cli", show_default=True, help="A name to recognise the token.")
def create_token(login: str, name: str) -> None:
    """Create an API token for LOGIN and print it (shown once)."""
    stores = _stores()
    found = stores.users.find(login)
    if found is None:
        raise click.ClickException(f"no user {login}; see `runner user ls`")
    _token, plain = stores.tokens.create(name, kind="user", user_id=found.id)
    click.echo(plain)


@user.command("agent-token")
@click.argument("name")
@click.option("--labels", help="Agent labels k=v,k2=v2 (a leading ! requires it).")
@click.option("--capacity", type=int, help="Stages at a time (default 1).")
@click.option("--repos", help="Repository slug patterns it may serve (default: any).")
@click.option("--environments", help="Environments it may deploy (default: any).")
def create_agent_token(name: str, labels, capacity, repos, environments):
    """Register agent NAME with its labels, capacity and scope and print a new token (shown
    once) for `runner agent --token`. For an agent that exists, the options given change its
    registration and the others stay. The agent can never claim beyond its registration."""
    from runner.server.agents import register_with_token

    fields = {
        "name": name,
        "labels": labels,
        "capacity": capacity,
        "allowed_repos": repos,
        "allowed_environments": environments,
    }
    actor = f"{getpass.getuser()} (runner user agent-token)"
    try:
        _agent, token = register_with_token(_stores(), fields, actor=actor)
    except RunnerError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(token)
