"""``runner cron``: cron jobs of a repository, run by the server's scheduler (UTC schedules).

Goes through the server's API. ``runner cron run`` creates the build at once; the server's
agents pick it up straight away.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from runner.commands.api_client import api_options, client, quoted, repo_path


def register(group: click.Group) -> None:
    group.add_command(cron)


def _when(stamp: float) -> str:
    if not stamp:
        return "never"
    if stamp == float("inf"):
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _next_run(schedule: str) -> str:
    """When ``schedule`` fires next, by the scheduler's own reading of it."""
    from runner.services.crons import next_run

    try:
        return _when(next_run(schedule, time.time()))
    except ValueError:
        return "bad schedule"


@click.group()
@api_options
def cron() -> None:
    """Manage cron jobs (scheduled builds)."""


@cron.command("add")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
@click.argument("schedule")
@click.option("--branch", default="", help="Branch to build (default: the repository's).")
@api_options
def add(slug: str, name: str, schedule: str, branch: str) -> None:
    """Add cron job NAME running on SCHEDULE (five fields, UTC), e.g. '0 3 * * *'."""
    body = {"name": name, "schedule": schedule, "branch": branch}
    job = client().json("POST", repo_path(slug) + "/crons", json=body)
    click.echo(f"cron job {job['name']} added to {slug}; next run {_next_run(job['schedule'])}")


@cron.command("ls")
@click.argument("slug", metavar="OWNER/NAME")
@api_options
def list_jobs(slug: str) -> None:
    """List a repository's cron jobs with their last and next run."""
    api = client()
    jobs = api.json("GET", repo_path(slug) + "/crons")
    default_branch = api.json("GET", repo_path(slug))["default_branch"] if jobs else ""
    for job in jobs:
        state = "enabled" if job["enabled"] else "disabled"
        upcoming = _next_run(job["schedule"]) if job["enabled"] else "-"
        click.echo(
            f"{job['name']}  '{job['schedule']}'  branch={job['branch'] or default_branch}"
            f"  {state}  last={_when(job['last_run'])}  next={upcoming}"
        )


@cron.command("rm")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
@api_options
def remove(slug: str, name: str) -> None:
    """Remove cron job NAME."""
    client().call("DELETE", f"{repo_path(slug)}/crons/{quoted(name)}")
    click.echo(f"cron job {name} removed from {slug}")


@cron.command("update")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
@click.option("--schedule", default=None, help="A new schedule (five fields, UTC, or @daily...).")
@click.option("--branch", default=None, help="A new branch ('': the repository's default).")
@api_options
def update(slug: str, name: str, schedule: str | None, branch: str | None) -> None:
    """Change the schedule or the branch of cron job NAME."""
    body = {k: v for k, v in (("schedule", schedule), ("branch", branch)) if v is not None}
    if not body:
        raise click.UsageError("give --schedule or --branch")
    job = client().json("PATCH", f"{repo_path(slug)}/crons/{quoted(name)}", json=body)
    click.echo(f"cron job {job['name']} of {slug}: '{job['schedule']}' on {job['branch']}")


def _switch(slug: str, name: str, enabled: bool) -> None:
    path = f"{repo_path(slug)}/crons/{quoted(name)}"
    client().call("PATCH", path, json={"enabled": enabled})


@cron.command("enable")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
@api_options
def enable(slug: str, name: str) -> None:
    """Let the scheduler run cron job NAME again."""
    _switch(slug, name, True)
    click.echo(f"cron job {name} enabled")


@cron.command("disable")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
@api_options
def disable(slug: str, name: str) -> None:
    """Stop the scheduler running cron job NAME (kept, with its history)."""
    _switch(slug, name, False)
    click.echo(f"cron job {name} disabled")


@cron.command("run")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
@api_options
def run_now(slug: str, name: str) -> None:
    """Create cron job NAME's build now, without waiting for its schedule."""
    build = client().json("POST", f"{repo_path(slug)}/crons/{quoted(name)}/run")
    click.echo(f"build #{build['number']} of {slug} created ({build['status']})")
