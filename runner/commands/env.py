"""``runner env``: a repository's deploy environments; ``runner build promote|rollback``.

``runner env ls|add|set|rm`` run on the server's machine, straight on its database (same
settings and data directory as ``runner server``), like ``runner repo``. ``runner build promote``
and ``rollback`` go through the server's API like the rest of ``runner build`` (``--server``,
``--token`` / ``RUNNER_TOKEN``), because the new build must wake the server's waiting agents.
"""

from __future__ import annotations

import click

from runner.errors import PipelineError, RunnerError
from runner.settings import load_settings


def register(group: click.Group) -> None:
    """Add ``runner env``, and ``promote``/``rollback`` to ``runner build`` (which passes its
    API client, made from ``--server``/``--token``, as the context object)."""
    group.add_command(env)
    from runner.commands.build import build

    build.add_command(promote)
    build.add_command(rollback)


def _stores():
    from runner.server.services import open_stores

    return open_stores(load_settings())


def _repo(stores, slug: str):
    found = stores.repos.find(slug)
    if found is None:
        raise click.ClickException(f"no repository {slug}; add it with `runner repo add {slug}`")
    return found


@click.group()
def env() -> None:
    """Manage a repository's deploy environments (test, staging, production...)."""


@env.command("ls")
@click.argument("repo")
def list_envs(repo: str) -> None:
    """List REPO's environments in the order builds are matched against them."""
    stores = _stores()
    for e in stores.environments.list(_repo(stores, repo).id):
        rules = []
        if e.branches:
            rules.append("branches " + ",".join(e.branches))
        if e.tags:
            rules.append("tags " + ",".join(e.tags))
        if e.events:
            rules.append("events " + ",".join(e.events))
        if e.labels:
            rules.append("labels " + ",".join(f"{k}={v}" for k, v in e.labels.items()))
        if e.approval_required:
            rules.append("approval")
        if e.lock:
            rules.append("lock" + (f" (held by build id {e.locked_by})" if e.locked_by else ""))
        click.echo(f"{e.name}\t{'; '.join(rules) or 'any branch'}")


_OPTIONS = [
    click.option("--branches", help="Branch globs, comma separated: develop,release/*"),
    click.option("--tags", help="Tag globs, comma separated: v*"),
    click.option("--events", help="Events, comma separated (default push,tag,custom,cron,...)"),
    click.option("--labels", help="Agent labels its stages ask for: env=production"),
    click.option("--approval/--no-approval", default=None, help="A person must approve."),
    click.option("--lock/--no-lock", default=None, help="One deploy at a time."),
    click.option("--position", type=int, help="Order of matching, lowest first."),
]


def _with_options(func):
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def _fields(name: str, given: dict) -> dict:
    """Store fields from the options given, validated like a pipeline file's declaration."""
    from runner.environments import parse_declaration

    raw = {}
    for key in ("branches", "tags", "events"):
        if given.get(key) is not None:
            raw[key] = [p.strip() for p in given[key].split(",") if p.strip()]
    if given.get("labels") is not None:
        raw["labels"] = given["labels"]
    for key in ("approval", "lock"):
        if given.get(key) is not None:
            raw[key] = given[key]
    try:
        decl = parse_declaration({name: raw})[0]
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    named = {"approval_required" if k == "approval" else k for k in raw}
    out = {k: v for k, v in decl.store_fields().items() if k in named}
    if given.get("position") is not None:
        out["position"] = given["position"]
    return out


@env.command("add")
@click.argument("repo")
@click.argument("name")
@_with_options
def add_env(repo: str, name: str, **given) -> None:
    """Add environment NAME to REPO."""
    stores = _stores()
    try:
        stores.environments.create(_repo(stores, repo).id, name, **_fields(name, given))
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"environment {name} added to {repo}")


@env.command("set")
@click.argument("repo")
@click.argument("name")
@_with_options
def set_env(repo: str, name: str, **given) -> None:
    """Change the options given of REPO's environment NAME."""
    stores = _stores()
    found = stores.environments.find(_repo(stores, repo).id, name)
    if found is None:
        raise click.ClickException(f"{repo} has no environment {name}; see `runner env ls {repo}`")
    stores.environments.update(found.id, **_fields(name, given))
    click.echo(f"environment {name} of {repo} updated")


@env.command("rm")
@click.argument("repo")
@click.argument("name")
def remove_env(repo: str, name: str) -> None:
    """Remove REPO's environment NAME (its scoped secrets stay until removed)."""
    stores = _stores()
    found = stores.environments.find(_repo(stores, repo).id, name)
    if found is None:
        raise click.ClickException(f"{repo} has no environment {name}; see `runner env ls {repo}`")
    stores.environments.delete(found.id)
    click.echo(f"environment {name} removed from {repo}")


def _deploy(api, event: str, repo: str, build: int, target: str) -> None:
    resp = api.call("POST", f"/repos/{repo}/builds/{build}/{event}", json={"target": target})
    data = resp.json()
    click.echo(
        f"build #{data['number']}: {event} of {data['commit'][:10]} to {target}, {data['status']}"
    )


@click.command()
@click.argument("repo")
@click.argument("build", type=int)
@click.argument("environment")
@click.pass_obj
def promote(api, repo: str, build: int, environment: str) -> None:
    """Deploy BUILD's commit of REPO to ENVIRONMENT (a new build with event promote)."""
    _deploy(api, "promote", repo, build, environment)


@click.command()
@click.argument("repo")
@click.argument("build", type=int)
@click.argument("environment")
@click.pass_obj
def rollback(api, repo: str, build: int, environment: str) -> None:
    """Deploy an earlier BUILD's commit of REPO to ENVIRONMENT again (event rollback)."""
    _deploy(api, "rollback", repo, build, environment)
