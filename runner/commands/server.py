"""``runner server``: the HTTP server, database, scheduler and embedded agent in one command."""

from __future__ import annotations

import logging

import click

from runner.settings import load_settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def register(group: click.Group) -> None:
    group.add_command(server)


@click.command()
@click.option("--data-dir", help="Where the database, keys and mirrors live (RUNNER_DATA_DIR).")
@click.option("--host", help="Address to listen on (RUNNER_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (RUNNER_PORT, default 8080).")
@click.option(
    "--database-url", help="sqlite:///PATH or postgresql+psycopg://... (RUNNER_DATABASE_URL)."
)
@click.option("--no-agent", is_flag=True, default=None, help="Do not start the embedded agent.")
def server(data_dir, host, port, database_url, no_agent) -> None:
    """Start the server: webhooks, API, web UI, queue, scheduler and an embedded agent."""
    overrides = {
        key: value
        for key, value in {
            "data_dir": data_dir,
            "host": host,
            "port": port,
            "database_url": database_url,
        }.items()
        if value is not None
    }
    if no_agent:
        overrides["embedded_agent"] = False
    settings = load_settings(overrides)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # Alembic announces each of its plugins at INFO on every start; only migrations matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from runner.server.serve import serve

    click.echo(f"pipeline-runner server on {settings.effective_server_url()}", err=True)
    serve(settings)
