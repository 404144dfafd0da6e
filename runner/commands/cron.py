"""``runner cron``: cron jobs of a repository, run by the server's scheduler (UTC schedules).

Runs on the server's machine, straight on its database. ``runner cron run`` creates the build
at once; agents of a running server pick it up at their next poll.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from runner.errors import RunnerError
from runner.settings import load_settings


def register(group: click.Group) -> None:
    group.add_command(cron)


def _stores():
    from runner.server.services import open_stores

    settings = load_settings()
    return settings, open_stores(settings)


def _repo(stores, slug: str):
    found = stores.repos.find(slug)
    if found is None:
        raise click.ClickException(f"no repository {slug}; see `runner repo ls`")
    return found


def _job(stores, repo, name: str):
    job = stores.crons.find(repo.id, name)
    if job is None:
        raise click.ClickException(f"{repo.slug} has no cron job {name}; see `runner cron ls`")
    return job


def _when(stamp: float) -> str:
    if not stamp:
        return "never"
    if stamp == float("inf"):
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _check_schedule(schedule: str) -> None:
    from runner.server.scheduler import parse_schedule

    try:
        parse_schedule(schedule)
    except ValueError as exc:
        raise click.ClickException(
            f"schedule {schedule!r} is not a five-field cron expression ({exc}); "
            "for example '0 3 * * *' for 03:00 UTC every day"
        ) from None


@click.group()
def cron() -> None:
    """Manage cron jobs (scheduled builds)."""


@cron.command("add")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
@click.argument("schedule")
@click.option("--branch", default="", help="Branch to build (default: the repository's).")
def add(slug: str, name: str, schedule: str, branch: str) -> None:
    """Add cron job NAME running on SCHEDULE (five fields, UTC), e.g. '0 3 * * *'."""
    from runner.server.scheduler import next_run

    _check_schedule(schedule)
    _settings, stores = _stores()
    repo = _repo(stores, slug)
    try:
        job = stores.crons.create(repo.id, name, schedule, branch)
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"cron job {job.name} added to {repo.slug}; next run "
        f"{_when(next_run(job.schedule, time.time()))}"
    )


@cron.command("ls")
@click.argument("slug", metavar="OWNER/NAME")
def list_jobs(slug: str) -> None:
    """List a repository's cron jobs with their last and next run."""
    from runner.server.scheduler import next_run

    _settings, stores = _stores()
    repo = _repo(stores, slug)
    for job in stores.crons.list(repo.id):
        state = "enabled" if job.enabled else "disabled"
        try:
            upcoming = _when(next_run(job.schedule, time.time())) if job.enabled else "-"
        except ValueError:
            upcoming = "bad schedule"
        click.echo(
            f"{job.name}  '{job.schedule}'  branch={job.branch or repo.default_branch}  {state}"
            f"  last={_when(job.last_run)}  next={upcoming}"
        )


@cron.command("rm")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
def remove(slug: str, name: str) -> None:
    """Remove cron job NAME."""
    _settings, stores = _stores()
    repo = _repo(stores, slug)
    stores.crons.delete(_job(stores, repo, name).id)
    click.echo(f"cron job {name} removed from {repo.slug}")


@cron.command("enable")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
def enable(slug: str, name: str) -> None:
    """Let the scheduler run cron job NAME again."""
    _settings, stores = _stores()
    repo = _repo(stores, slug)
    stores.crons.update(_job(stores, repo, name).id, enabled=True)
    click.echo(f"cron job {name} enabled")


@cron.command("disable")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
def disable(slug: str, name: str) -> None:
    """Stop the scheduler running cron job NAME (kept, with its history)."""
    _settings, stores = _stores()
    repo = _repo(stores, slug)
    stores.crons.update(_job(stores, repo, name).id, enabled=False)
    click.echo(f"cron job {name} disabled")


@cron.command("run")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("name")
def run_now(slug: str, name: str) -> None:
    """Create cron job NAME's build now, without waiting for its schedule."""
    from runner.server.services import Services
    from runner.server.status import status_reporter
    from runner.server.trigger import Triggerer

    settings, stores = _stores()
    repo = _repo(stores, slug)
    job = _job(stores, repo, name)
    services = Services(settings=settings, db=stores.db, stores=stores, livelog=None)
    try:
        build = Triggerer(services).cron(repo, job)
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        status_reporter(services).stop()
    stores.crons.mark_run(job.id)
    click.echo(f"build #{build.number} of {repo.slug} created ({build.status})")
