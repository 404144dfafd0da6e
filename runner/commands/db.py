"""``runner db backup`` and ``runner db restore``: a consistent backup of the server's database
and key while the server runs, and its restore into a data directory whose server is stopped.

Like ``runner server init``, these run on the server's machine against its data directory and
database (``--data-dir``, ``--database-url`` or the ``RUNNER_*`` settings), not through the API.
"""

from __future__ import annotations

from pathlib import Path

import click

from runner.commands.server import _DATA_DIR_HELP, _DATABASE_HELP, _settings
from runner.errors import RunnerError


def register(group: click.Group) -> None:
    group.add_command(db)


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    scaled = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GiB":
            break
    return f"{scaled:.1f} {unit} ({size} bytes)"


@click.group()
def db() -> None:
    """Back up and restore the server's database and key."""


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option(
    "--without-key",
    is_flag=True,
    help="Leave the data directory's secret.key out (then keep it apart: restore needs it).",
)
@click.option("--data-dir", help=_DATA_DIR_HELP)
@click.option("--database-url", help=_DATABASE_HELP)
def backup(
    file: Path, force: bool, without_key: bool, data_dir: str | None, database_url: str | None
) -> None:
    """Write a consistent backup of the database (and the key of its secrets) to FILE, also
    while the server runs. SQLite is copied with SQLite's online backup API; PostgreSQL with
    pg_dump, which must be on PATH (else the manual recipe is printed)."""
    from runner.services.backups import backup as run_backup

    settings = _settings(data_dir, database_url)
    try:
        done = run_backup(settings, file, force=force, include_key=not without_key)
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    facts = done.facts
    click.echo(
        f"wrote {done.path}: {_size(done.size)}, {done.database} database at schema revision "
        f"{facts.revision}, {facts.builds} builds, {facts.sealed_values} encrypted values; "
        f"{done.key_note}"
    )


@db.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the database if one exists.")
@click.option("--data-dir", help=_DATA_DIR_HELP)
@click.option("--database-url", help=_DATABASE_HELP)
def restore(file: Path, force: bool, data_dir: str | None, database_url: str | None) -> None:
    """Restore the backup FILE into the data directory and database, with the server stopped.
    An older schema is upgraded to this version's; the key is checked against the secrets."""
    from runner.services.restore import restore as run_restore

    settings = _settings(data_dir, database_url)
    try:
        done = run_restore(settings, file, force=force)
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    facts = done.facts
    upgraded = (
        f"upgraded from schema revision {done.from_revision} to {facts.revision}"
        if done.from_revision != facts.revision
        else f"at schema revision {facts.revision}"
    )
    click.echo(
        f"restored {file} into the {done.database} database: {facts.builds} builds, {upgraded}; "
        + (
            f"{facts.sealed_values} encrypted values decrypt with {done.key_note}"
            if facts.sealed_values
            else f"no encrypted values; key: {done.key_note}"
        )
    )
