"""``runner agent``: take stages from a server and run them on the local Docker engine."""

from __future__ import annotations

import logging
import signal
import socket

import click

from runner.settings import load_settings, parse_labels

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def register(group: click.Group) -> None:
    group.add_command(agent)


@click.command()
@click.option(
    "--server", "server_url", help="Server address, e.g. http://ci:8080 (RUNNER_AGENT_SERVER)."
)
@click.option("--token", help="Agent token from `runner user agent-token` (RUNNER_AGENT_TOKEN).")
@click.option("--name", help="Agent name (RUNNER_AGENT_NAME, default the host name).")
@click.option("--labels", help="Labels k=v,k2=v2; a leading ! requires it (RUNNER_AGENT_LABELS).")
@click.option("--capacity", type=int, help="Stages run at a time (RUNNER_AGENT_CAPACITY).")
def agent(server_url, token, name, labels, capacity) -> None:
    """Run stages for a server until stopped (SIGTERM/SIGINT finish the running stages first)."""
    overrides = {}
    if server_url:
        overrides["agent_server"] = server_url
    if token:
        overrides["agent_token"] = token
    if name:
        overrides["agent_name"] = name
    if labels is not None:
        overrides["agent_labels"] = parse_labels(labels)
    if capacity:
        overrides["agent_capacity"] = capacity
    settings = load_settings(overrides)
    if not settings.agent_server or not settings.agent_token:
        raise click.UsageError("an agent needs --server and --token (or RUNNER_AGENT_SERVER/TOKEN)")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from runner.agent.rpc_client import RpcClient
    from runner.agent.runtime import AgentRuntime
    from runner.server.serve import make_engine_factory

    agent_name = settings.agent_name or socket.gethostname()
    runtime = AgentRuntime(
        RpcClient(settings.agent_server, settings.agent_token),
        make_engine_factory(settings, agent_name),
        name=agent_name,
        capacity=settings.agent_capacity,
        labels=settings.agent_labels,
        environ=settings.agent_environment,
        cache_dir=str(settings.data_path / "mirrors"),
        shutdown=settings.agent_shutdown,  # RUNNER_AGENT_SHUTDOWN: finish or handback
    )

    def _stop(signum, frame):
        runtime.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"agent {agent_name} working for {settings.agent_server}", err=True)
    runtime.run_forever()
