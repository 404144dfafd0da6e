"""``runner cache ls|prune``: the shared cache volumes of this machine's Docker engine.

Fork pull requests have caches of their own (``BUILDS`` column ``fork``), apart from those of
the repository's own builds (``own``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from runner.errors import RunnerError

if TYPE_CHECKING:
    from docker import DockerClient


def register(group: click.Group) -> None:
    group.add_command(cache)


def _client() -> DockerClient:
    import docker

    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:
        raise click.ClickException(
            f"cannot reach the Docker engine: {exc}; start dockerd or set DOCKER_HOST"
        ) from exc


@click.group()
def cache() -> None:
    """List and prune the cache volumes kept across builds."""


@cache.command("ls")
@click.option("--repo", default="", help="only the caches of this owner/name")
def list_command(repo: str) -> None:
    """List cache volumes: repository, key, cached path, whose builds use it, volume name."""
    from runner.engine.cleanup import list_caches

    rows = [("REPO", "KEY", "PATH", "BUILDS", "VOLUME")]
    rows += [
        (c.repo, c.key, c.path, c.scope or "own", c.name) for c in list_caches(_client(), repo)
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@cache.command("prune")
@click.option("--repo", default="", help="only the caches of this owner/name")
@click.option("--key", default="", help="only the caches with this key")
def prune_command(repo: str, key: str) -> None:
    """Remove cache volumes that no container uses."""
    from runner.engine.cleanup import prune_caches

    try:
        removed = prune_caches(_client(), repo, key)
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from exc
    for name in removed:
        click.echo(f"removed {name}")
    click.echo(f"{len(removed)} cache volume(s) removed")
