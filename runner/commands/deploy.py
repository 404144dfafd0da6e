"""``runner deploy ls`` and ``runner env status``: what is live in each environment of a
repository and its deployment history, through the server's API (``--server``, ``--token``)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from runner.commands.api_client import api_options, client, quoted, repo_path


def register(group: click.Group) -> None:
    """Add ``runner deploy`` (``runner env status`` joins ``runner env`` there)."""
    group.add_command(deploy)


@click.group()
@api_options
def deploy() -> None:
    """Deployments of a repository: where each build went, by whom, with what result."""


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(stamp)) if stamp else "-"


def state_text(record: dict[str, Any]) -> str:
    """``live``, or ``canary 25%`` when the deploy step reported its traffic share."""
    share = record.get("traffic_share")
    return str(record["state"]) + (f" {share}%" if share is not None else "")


def describe(record: dict[str, Any]) -> str:
    """One deployment in words: version, build, commit, image, since, by, approved by, agent,
    state."""
    parts = [
        record.get("version") or "-",
        f"build #{record['build_number']} ({record['event']})",
        f"commit {(record.get('commit') or '')[:10] or '-'}",
        f"image {record.get('image') or '-'}",
        f"since {_when(record.get('finished') or record.get('started') or record['created'])}",
        f"by {record.get('sender') or '-'}",
        f"approved by {', '.join(record.get('approved_by') or []) or '-'}",
        f"agent {record.get('agent') or '-'}",
        state_text(record),
    ]
    if record.get("message"):
        parts.append(" ".join(str(record["message"]).split()))  # one line per record
    return "  ".join(parts)


@deploy.command("ls")
@click.argument("repo")
@click.option("--env", "environment", help="Only the deployments to this environment.")
@click.option("--limit", type=click.IntRange(1, 100), default=25, show_default=True)
@click.option("--before", type=int, help="Only records older than this record id (next page).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@api_options
def list_deployments(
    repo: str, environment: str | None, limit: int, before: int | None, as_json: bool
) -> None:
    """List REPO's deployments, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if environment:
        params["environment"] = environment
    if before:
        params["before"] = before
    records = client().json("GET", repo_path(repo) + "/deployments", params=params)
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    if not records:
        click.echo("no deployments")
    for record in records:
        click.echo(f"{record['id']:<5} {record['environment']:<12} {describe(record)}")


@click.command("status")
@click.argument("repo")
@click.option("--env", "environment", help="Only this environment.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@api_options
def env_status(repo: str, environment: str | None, as_json: bool) -> None:
    """Show what is live in each of REPO's environments, and what is deploying."""
    api = client()
    if environment:
        statuses = [api.json("GET", f"{repo_path(repo)}/environments/{quoted(environment)}/status")]
    else:
        statuses = api.json("GET", repo_path(repo) + "/deployments/status")
    if as_json:
        click.echo(json.dumps(statuses, indent=2))
        return
    if not statuses:
        click.echo("no environments")
    for status in statuses:
        name = status["environment"] + ("" if status.get("exists", True) else " (removed)")
        live = status.get("live")
        click.echo(f"{name:<12} live: {describe(live) if live else 'nothing deployed yet'}")
        for key in ("canary", "deploying"):
            if status.get(key):
                click.echo(f"{'':<12} {key}: {describe(status[key])}")
