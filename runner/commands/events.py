"""``runner events``: the event log of a repository, or of the whole server (admins), read
through the server's API with the same filters as the Events pages."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from runner.commands.api_client import api_options, client, repo_path


def register(group: click.Group) -> None:
    group.add_command(events)


@click.command()
@click.argument("repo", required=False)
@click.option("--kind", default="", help="Only this kind (build.cancelled) or prefix (build.).")
@click.option("--actor", default="", help="Only what this login (or webhook, cron) did.")
@click.option("--since", default="", help="From: 2026-12-05, 2026-12-05T21:00 (UTC) or 2h, 7d.")
@click.option("--until", default="", help="Before this time (same forms as --since).")
@click.option("--before", type=int, default=None, help="Entries older than this id (paging).")
@click.option("--limit", type=int, default=50, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@api_options
def events(
    repo: str | None,
    kind: str,
    actor: str,
    since: str,
    until: str,
    before: int | None,
    limit: int,
    as_json: bool,
) -> None:
    """The event log of REPO (OWNER/NAME; the read role shows builds, environments and crons,
    the admin role every entry), or without REPO the server's whole log (server admins): who
    did what and when, newest first."""
    params: dict[str, Any] = {"kind": kind, "actor": actor, "since": since, "until": until}
    params = {key: value for key, value in params.items() if value}
    params["limit"] = limit
    if before is not None:
        params["before"] = before
    path = repo_path(repo) + "/events" if repo else "/events"
    entries = client().json("GET", path, params=params)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        click.echo(line(entry, with_repo=not repo))


def line(entry: dict[str, Any], *, with_repo: bool) -> str:
    """One entry as a line: id, UTC time, actor, kind, [repository,] message."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(entry["created"])))
    cells = [str(entry["id"]), when, entry["actor"] or "-", entry["kind"]]
    if with_repo:
        cells.append(entry["repo"] or "-")
    return "\t".join([*cells, entry["message"]])
