"""``runner secret``: repository secrets through the server's API (values encrypted at rest,
never returned)."""

from __future__ import annotations

import sys
from typing import IO, Any

import click

from runner.commands.api_client import api_options, client, quoted, repo_path


def register(group: click.Group) -> None:
    group.add_command(secret)


@click.group()
@api_options
def secret() -> None:
    """Manage repository secrets (values are never shown again)."""


@secret.command("add")
@click.argument("repo")
@click.argument("name")
@click.argument("value", required=False)
@click.option("--from-file", type=click.File("r"), help="Read the value from a file ('-': stdin).")
@click.option("--event", "events", multiple=True, help="Events that get it (repeatable).")
@click.option("--image", "images", multiple=True, help="Only steps of these images (globs).")
@click.option("--allow-pull-request", is_flag=True, help="Hand it to pull-request builds too.")
@click.option("--environment", default="", help="Only builds deploying to this environment.")
@click.option(
    "--skip-verify",
    "--substitute",
    "substitute",
    is_flag=True,
    help="${NAME} in a Drone 0.8 file stands for the value (Drone 0.8's --skip-verify).",
)
@api_options
def add_secret(
    repo: str,
    name: str,
    value: str | None,
    from_file: IO[str] | None,
    events: tuple[str, ...],
    images: tuple[str, ...],
    allow_pull_request: bool,
    environment: str,
    substitute: bool,
) -> None:
    """Add or replace secret NAME of REPO (OWNER/NAME); names are case-insensitive."""
    if from_file is not None:
        value = from_file.read()
    elif value is None:
        if sys.stdin.isatty():
            value = click.prompt("value", hide_input=True)
        else:
            value = sys.stdin.read()
    if not value:
        raise click.UsageError("a secret needs a value (argument, --from-file or stdin)")
    api = client()
    fields: dict[str, Any] = {
        "name": name,
        "value": value,
        "images": list(images),
        "allow_pull_request": allow_pull_request,
        "environment": environment,
        "substitute": substitute,
    }
    if events:
        fields["events"] = list(events)
    path = repo_path(repo) + "/secrets"
    listed = api.json("GET", path)
    exists = any(
        s["name"].lower() == name.lower() and s["environment"] == environment for s in listed
    )
    if exists:
        api.call("PUT", f"{path}/{quoted(name)}", json=fields)
    else:
        api.call("POST", path, json=fields)
    click.echo(f"secret {name} saved for {repo}")


@secret.command("update")
@click.argument("repo")
@click.argument("name")
@click.option("--value", default=None, help="A new value (default: the stored one stays).")
@click.option("--event", "events", multiple=True, help="Events that get it (repeatable).")
@click.option("--image", "images", multiple=True, help="Only steps of these images (globs).")
@click.option(
    "--allow-pull-request/--no-allow-pull-request",
    default=None,
    help="Hand it to pull-request builds too, or no more.",
)
@click.option("--environment", default="", help="The environment of the secret to change.")
@click.option("--move-to", default=None, help="Give it to this environment instead (''=every).")
@api_options
def update_secret(
    repo: str,
    name: str,
    value: str | None,
    events: tuple[str, ...],
    images: tuple[str, ...],
    allow_pull_request: bool | None,
    environment: str,
    move_to: str | None,
) -> None:
    """Change what secret NAME of REPO is handed to; its value only with --value."""
    fields: dict[str, Any] = {}
    if value:
        fields["value"] = value
    if events:
        fields["events"] = list(events)
    if images:
        fields["images"] = list(images)
    if allow_pull_request is not None:
        fields["allow_pull_request"] = allow_pull_request
    if move_to is not None:
        fields["environment"] = move_to
    client().call(
        "PATCH",
        f"{repo_path(repo)}/secrets/{quoted(name)}",
        params={"environment": environment} if environment else {},
        json=fields,
    )
    click.echo(f"secret {name} of {repo} changed")


@secret.command("ls")
@click.argument("repo")
@api_options
def list_secrets(repo: str) -> None:
    """List the secrets of REPO (names and rules, never values)."""
    for item in client().json("GET", repo_path(repo) + "/secrets"):
        rules = [f"events={','.join(item['events'])}"]
        if item.get("images"):
            rules.append(f"images={','.join(item['images'])}")
        if item.get("allow_pull_request"):
            rules.append("pull requests")
        if item.get("environment"):
            rules.append(f"environment={item['environment']}")
        if item.get("substitute"):
            rules.append("substituted")
        click.echo(f"{item['name']}\t{' '.join(rules)}")


@secret.command("rm")
@click.argument("repo")
@click.argument("name")
@click.option("--environment", default="")
@api_options
def remove_secret(repo: str, name: str, environment: str) -> None:
    """Delete secret NAME of REPO."""
    client().call(
        "DELETE",
        f"{repo_path(repo)}/secrets/{quoted(name)}",
        params={"environment": environment} if environment else {},
    )
    click.echo(f"secret {name} deleted from {repo}")
