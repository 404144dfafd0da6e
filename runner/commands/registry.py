"""``runner registry``: a repository's container registry credentials through the server's API
(``woodpecker-cli repo registry`` alike; passwords encrypted at rest, never returned)."""

from __future__ import annotations

import sys
from typing import IO

import click

from runner.commands.api_client import api_options, client, quoted, repo_path


def register(group: click.Group) -> None:
    group.add_command(registry)


@click.group()
@api_options
def registry() -> None:
    """Manage the registries a repository's step images are pulled from."""


@registry.command("add")
@click.argument("repo")
@click.argument("hostname")
@click.option("--username", required=True, help="User name at the registry.")
@click.option("--password", default=None, help="Password or token (default: prompt or stdin).")
@click.option(
    "--password-file", type=click.File("r"), help="Read the password from a file ('-': stdin)."
)
@api_options
def add_registry(
    repo: str, hostname: str, username: str, password: str | None, password_file: IO[str] | None
) -> None:
    """Add registry HOSTNAME (host[:port]) to REPO (OWNER/NAME), or replace its credentials."""
    if password_file is not None:
        password = password_file.read().rstrip("\n")
    elif password is None:
        if sys.stdin.isatty():
            password = click.prompt("password", hide_input=True)
        else:
            password = sys.stdin.read().rstrip("\n")
    if not password:
        raise click.UsageError("a registry needs a password (--password, --password-file or stdin)")
    fields = {"hostname": hostname, "username": username, "password": password}
    client().call("POST", repo_path(repo) + "/registries", json=fields)
    click.echo(f"registry {hostname} saved for {repo}")


@registry.command("ls")
@click.argument("repo")
@api_options
def list_registries(repo: str) -> None:
    """List the registries of REPO (host and user name, never the password)."""
    for item in client().json("GET", repo_path(repo) + "/registries"):
        click.echo(f"{item['hostname']}\t{item['username']}")


@registry.command("rm")
@click.argument("repo")
@click.argument("hostname")
@api_options
def remove_registry(repo: str, hostname: str) -> None:
    """Delete registry HOSTNAME of REPO."""
    client().call("DELETE", f"{repo_path(repo)}/registries/{quoted(hostname)}")
    click.echo(f"registry {hostname} deleted from {repo}")
