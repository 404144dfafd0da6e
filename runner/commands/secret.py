"""``runner secret``: repository secrets on the server's database (values encrypted at rest)."""

from __future__ import annotations

import sys

import click

from runner.errors import RunnerError
from runner.settings import load_settings


def register(group: click.Group) -> None:
    group.add_command(secret)


def _repo(stores, slug: str):
    repo = stores.repos.find(slug)
    if repo is None:
        raise click.ClickException(f"no repository {slug}; add it with `runner repo add {slug}`")
    return repo


def _stores():
    from runner.server.services import open_stores

    return open_stores(load_settings())


@click.group()
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
def add_secret(repo, name, value, from_file, events, images, allow_pull_request, environment):
    """Add or replace secret NAME of REPO (OWNER/NAME)."""
    if from_file is not None:
        value = from_file.read()
    elif value is None:
        if sys.stdin.isatty():
            value = click.prompt("value", hide_input=True)
        else:
            value = sys.stdin.read()
    if not value:
        raise click.UsageError("a secret needs a value (argument, --from-file or stdin)")
    stores = _stores()
    try:
        stores.secrets.set(
            _repo(stores, repo).id,
            name,
            value,
            events=list(events) or None,
            images=list(images),
            allow_pull_request=allow_pull_request,
            environment=environment,
        )
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"secret {name} saved for {repo}")


@secret.command("ls")
@click.argument("repo")
def list_secrets(repo: str) -> None:
    """List the secrets of REPO (names and rules, never values)."""
    stores = _stores()
    for item in stores.secrets.list(_repo(stores, repo).id):
        rules = [f"events={','.join(item.events)}"]
        if item.images:
            rules.append(f"images={','.join(item.images)}")
        if item.allow_pull_request:
            rules.append("pull requests")
        if item.environment:
            rules.append(f"environment={item.environment}")
        click.echo(f"{item.name}\t{' '.join(rules)}")


@secret.command("rm")
@click.argument("repo")
@click.argument("name")
@click.option("--environment", default="")
def remove_secret(repo: str, name: str, environment: str) -> None:
    """Delete secret NAME of REPO."""
    stores = _stores()
    target = _repo(stores, repo)
    if stores.secrets.find(target.id, name, environment) is None:
        raise click.ClickException(f"no secret {name} in {repo}")
    stores.secrets.delete(target.id, name, environment)
    click.echo(f"secret {name} deleted from {repo}")
