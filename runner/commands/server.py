"""``runner server``: the HTTP server, database, scheduler and embedded agent in one command;
``runner server init``: first-time setup and recovery on the server's machine; ``runner server
image``: the server image built on the local engine without network (``server_image``).

``init`` is the one command beside ``runner server`` itself that opens the database: it exists
for when no server answers yet (the first admin) or nobody can log in any more (a lost admin
password). Everything else goes through the server's API.
"""

from __future__ import annotations

import logging
import secrets
import sys
from typing import Any

import click

from runner.errors import RunnerError
from runner.settings import Settings, load_settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def register(group: click.Group) -> None:
    group.add_command(server)


def _settings(data_dir: str | None, database_url: str | None, **more: Any) -> Settings:
    given = {"data_dir": data_dir, "database_url": database_url, **more}
    return load_settings({key: value for key, value in given.items() if value is not None})


_DATA_DIR_HELP = "Where the database, keys and mirrors live (RUNNER_DATA_DIR)."
_DATABASE_HELP = "sqlite:///PATH or postgresql+psycopg://... (RUNNER_DATABASE_URL)."


@click.group(invoke_without_command=True)
@click.option("--data-dir", help=_DATA_DIR_HELP)
@click.option("--host", help="Address to listen on (RUNNER_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (RUNNER_PORT, default 8080).")
@click.option("--database-url", help=_DATABASE_HELP)
@click.option("--no-agent", is_flag=True, default=None, help="Do not start the embedded agent.")
@click.pass_context
def server(
    ctx: click.Context,
    data_dir: str | None,
    host: str | None,
    port: int | None,
    database_url: str | None,
    no_agent: bool | None,
) -> None:
    """Start the server: webhooks, API, web UI, queue, scheduler and an embedded agent."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(data_dir, database_url, host=host, port=port)
    if no_agent:
        settings.embedded_agent = False
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # Alembic announces each of its plugins at INFO on every start; only migrations matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from runner.server.serve import serve

    click.echo(f"pipeline-runner server on {settings.effective_server_url()}", err=True)
    serve(settings)


@server.command("init")
@click.option("--data-dir", help=_DATA_DIR_HELP)
@click.option("--database-url", help=_DATABASE_HELP)
@click.option("--admin", "login", default="admin", show_default=True, help="The admin's login.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (else made up)."
)
@click.option(
    "--reset-password", is_flag=True, help="The admin exists: give it a new password (recovery)."
)
def init(
    data_dir: str | None,
    database_url: str | None,
    login: str,
    password_stdin: bool,
    reset_password: bool,
) -> None:
    """Create the database and a server admin before the server first runs, or give an
    existing admin a new password (ending its sessions). Runs on the server's machine, on the
    same data directory or database as `runner server`; prints a made-up password once."""
    from runner.server.services import open_stores
    from runner.services.users import change_password, create_user

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else ""
    shown = not password
    password = password or secrets.token_urlsafe(12)
    stores = open_stores(_settings(data_dir, database_url))
    try:
        found = stores.users.find(login)
        if found is not None and not reset_password:
            raise click.ClickException(
                f"user {login} exists; give --reset-password to set a new password"
            )
        if found is None:
            create_user(stores, login, password, is_admin=True, actor="runner server init")
            done = f"server admin {login} created"
        else:
            stores.users.set_admin(found.id, True)
            change_password(
                stores, stores.users.get(found.id), password, actor="runner server init"
            )
            done = f"new password of server admin {login} set; its sessions are ended"
        stores.audit.record("user.admin", f"user:{login}", done, "runner server init")
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        stores.db.dispose()
    click.echo(done + (f"; password {password}" if shown else ""))


@server.command("image")
@click.option(
    "--base-image",
    default="",
    help="FROM image with python3 and git (default: the Dockerfile's, python:3.12-slim).",
)
@click.option("--tag", default="pipeline-runner:latest", show_default=True)
def image(base_image: str, tag: str) -> None:
    """Build the server image from this checkout's Dockerfile on the local engine, with no
    network in the build: pip first fetches the libraries for the base image's Python on this
    machine (its own index configuration), kept under RUNNER_WHEELHOUSE (default
    ~/.cache/pipeline-runner/wheels) for the next build."""
    import docker

    from runner.commands.server_image import build_server_image

    try:
        built = build_server_image(
            docker.from_env(), base_image=base_image, tag=tag, log=click.echo
        )
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    except docker.errors.DockerException as exc:
        raise click.ClickException(f"Docker engine: {exc}") from None
    click.echo(f"built {built}")
