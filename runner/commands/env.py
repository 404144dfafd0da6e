"""``runner env``: a repository's deploy environments; ``runner build promote|rollback``.

All go through the server's API (``--server``, ``--token``; see ``runner.commands.api_client``),
which validates the options like a pipeline file's ``environments:`` declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from runner.commands.api_client import ApiClient, api_options, client, quoted, repo_path


def register(group: click.Group) -> None:
    """Add ``runner env`` (``promote``/``rollback`` join ``runner build`` there)."""
    from runner.commands.deploy import env_status  # what is live: written with deployments

    env.add_command(env_status)
    group.add_command(env)


@click.group()
@api_options
def env() -> None:
    """Manage a repository's deploy environments (test, staging, production...)."""


@env.command("ls")
@click.argument("repo")
@api_options
def list_envs(repo: str) -> None:
    """List REPO's environments in the order builds are matched against them."""
    for e in client().json("GET", repo_path(repo) + "/environments"):
        rules = []
        if e.get("branches"):
            rules.append("branches " + ",".join(e["branches"]))
        if e.get("tags"):
            rules.append("tags " + ",".join(e["tags"]))
        if e.get("events"):
            rules.append("events " + ",".join(e["events"]))
        if e.get("labels"):
            rules.append("labels " + ",".join(f"{k}={v}" for k, v in e["labels"].items()))
        if e.get("approval_required"):
            rules.append("approval" + _approval_rules(e))
        elif e.get("rollback_exempt") or e.get("four_eyes"):
            rules.append("no approval" + _approval_rules(e))
        if e.get("lock"):
            held = e.get("locked_by")
            rules.append("lock" + (f" (held by build id {held})" if held else ""))
        click.echo(f"{e['name']}\t{'; '.join(rules) or 'any branch'}")


def _approval_rules(e: dict[str, Any]) -> str:
    """`` (2 approvers, four-eyes, rollbacks exempt)`` for an environment's approval rules."""
    rules = []
    if (e.get("approvals_required") or 1) > 1:
        rules.append(f"{e['approvals_required']} approvers")
    if e.get("four_eyes"):
        rules.append("four-eyes")
    if e.get("rollback_exempt"):
        rules.append("rollbacks exempt")
    return f" ({', '.join(rules)})" if rules else ""


_OPTIONS = [
    click.option("--branches", help="Branch globs, comma separated: develop,release/*"),
    click.option("--tags", help="Tag globs, comma separated: v*"),
    click.option("--events", help="Events, comma separated (default push,tag,custom,cron,...)"),
    click.option("--labels", help="Agent labels its stages ask for: env=production"),
    click.option("--approval/--no-approval", default=None, help="A person must approve."),
    click.option(
        "--approvals-required",
        type=int,
        help="How many distinct people must approve (1 to 10; with --approval).",
    ),
    click.option(
        "--four-eyes/--no-four-eyes",
        default=None,
        help="The approver must not be who pushed, started or promoted the build, nor its "
        "commit's author.",
    ),
    click.option(
        "--rollback-exempt/--no-rollback-exempt",
        default=None,
        help="A rollback deploys without approval.",
    ),
    click.option("--lock/--no-lock", default=None, help="One deploy at a time."),
    click.option("--position", type=int, help="Order of matching, lowest first."),
]


def _with_options(func: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_OPTIONS):
        func = option(func)
    return api_options(func)


def _fields(given: dict[str, Any]) -> dict[str, Any]:
    """The API body of the options given (the server validates them)."""
    out: dict[str, Any] = {}
    for key in ("branches", "tags", "events"):
        if given.get(key) is not None:
            out[key] = [p.strip() for p in given[key].split(",") if p.strip()]
    keys = ("labels", "approval", "approvals_required", "four_eyes", "rollback_exempt")
    for key in (*keys, "lock", "position"):
        if given.get(key) is not None:
            out[key] = given[key]
    return out


@env.command("add")
@click.argument("repo")
@click.argument("name")
@_with_options
def add_env(repo: str, name: str, **given: Any) -> None:
    """Add environment NAME to REPO."""
    client().call("POST", repo_path(repo) + "/environments", json={"name": name, **_fields(given)})
    click.echo(f"environment {name} added to {repo}")


@env.command("set")
@click.argument("repo")
@click.argument("name")
@_with_options
def set_env(repo: str, name: str, **given: Any) -> None:
    """Change the options given of REPO's environment NAME."""
    client().call("PATCH", f"{repo_path(repo)}/environments/{quoted(name)}", json=_fields(given))
    click.echo(f"environment {name} of {repo} updated")


@env.command("rm")
@click.argument("repo")
@click.argument("name")
@api_options
def remove_env(repo: str, name: str) -> None:
    """Remove REPO's environment NAME (its scoped secrets stay until removed)."""
    client().call("DELETE", f"{repo_path(repo)}/environments/{quoted(name)}")
    click.echo(f"environment {name} removed from {repo}")


def _deploy(event: str, repo: str, build: int, target: str) -> None:
    api: ApiClient = client()
    data = api.json("POST", f"{repo_path(repo)}/builds/{build}/{event}", json={"target": target})
    click.echo(
        f"build #{data['number']}: {event} of {data['commit'][:10]} to {target}, {data['status']}"
    )


@click.command()
@click.argument("repo")
@click.argument("build", type=int)
@click.argument("environment")
@api_options
def promote(repo: str, build: int, environment: str) -> None:
    """Deploy BUILD's commit of REPO to ENVIRONMENT (a new build with event promote)."""
    _deploy("promote", repo, build, environment)


@click.command()
@click.argument("repo")
@click.argument("build", type=int)
@click.argument("environment")
@api_options
def rollback(repo: str, build: int, environment: str) -> None:
    """Deploy an earlier BUILD's commit of REPO to ENVIRONMENT again (event rollback)."""
    _deploy("rollback", repo, build, environment)
