"""``runner agent``: take stages from a server and run them on the local Docker engine; list the
server's agents, create or revoke agent tokens, change an agent's registration and read its
history through the API (``ls``, ``token``, ``set``, ``history``)."""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import click

from runner.commands.api_client import ApiClient, api_options, client, remember
from runner.labels import parse_labels
from runner.settings import load_settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def register(group: click.Group) -> None:
    group.add_command(agent)


@click.group(invoke_without_command=True)
@click.option(
    "--server", "server_url", help="Server address, e.g. http://ci:8080 (RUNNER_AGENT_SERVER)."
)
@click.option("--token", help="Agent token from `runner user agent-token` (RUNNER_AGENT_TOKEN).")
@click.option("--name", help="Agent name (RUNNER_AGENT_NAME, default the host name).")
@click.option(
    "--labels",
    help="Labels k=v,k2=v2 announced (RUNNER_AGENT_LABELS); they can only narrow the labels "
    "registered for the token.",
)
@click.option(
    "--capacity",
    type=int,
    help="Stages run at a time (RUNNER_AGENT_CAPACITY); the registered capacity caps it.",
)
@click.pass_context
def agent(
    ctx: click.Context,
    server_url: str | None,
    token: str | None,
    name: str | None,
    labels: str | None,
    capacity: int | None,
) -> None:
    """Run stages for a server until stopped (SIGTERM/SIGINT finish the running stages first).

    With a subcommand (`ls`, `token`, `set`, `history`), talk to the server's API as an admin
    instead.
    """
    if ctx.invoked_subcommand is not None:
        # `runner agent --server URL --token T ls` reads the same as `runner agent ls --server ..`.
        remember(ctx, server=server_url, token=token)
        return
    _run_agent(server_url, token, name, labels, capacity)


def _run_agent(
    server_url: str | None,
    token: str | None,
    name: str | None,
    labels: str | None,
    capacity: int | None,
) -> None:
    overrides: dict[str, Any] = {}
    if server_url:
        overrides["agent_server"] = server_url
    if token:
        overrides["agent_token"] = token
    if name:
        overrides["agent_name"] = name
    if labels is not None:
        try:
            overrides["agent_labels"] = parse_labels(labels)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--labels") from exc
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
    from runner.malloc import tune_malloc
    from runner.server.serve import make_engine_factory

    tune_malloc()  # log chunks go through many threads here too
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

    def _stop(signum: int, frame: FrameType | None) -> None:
        runtime.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"agent {agent_name} working for {settings.agent_server}", err=True)
    runtime.run_forever()


def _ago(timestamp: float, now: float) -> str:
    if not timestamp:
        return "never"
    seconds = max(0, int(now - timestamp))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


@agent.command("ls")
@api_options
def list_agents() -> None:
    """List the server's agents: registered labels, capacity and scope, the labels each
    announced when they differ, running stages, version, last contact, whether each counts as
    connected, and why it cannot run stages when it cannot."""
    items = client().json("GET", "/agents/status")
    now = time.time()
    rows = [
        (
            "NAME",
            "LABELS",
            "CAPACITY",
            "SCOPE",
            "RUNNING",
            "VERSION",
            "LAST CONTACT",
            "CONNECTED",
            "HEALTH",
        )
    ]
    for item in items:
        labels = _labels(item.get("labels", {}))
        declared = item.get("declared_labels") or {}
        if declared and declared != item.get("labels"):
            labels += f" (announces {_labels(declared)})"
        running = ",".join(f"{r['repo']}#{r['build']}/{r['stage']}" for r in item["running"])
        rows.append(
            (
                item["name"],
                labels or "-",
                str(item["capacity"]),
                _scope(item),
                running or "-",
                item.get("version") or "-",
                _ago(item.get("last_contact") or 0, now),
                "yes" if item["connected"] else "no",
                f"engine unreachable: {item['unhealthy']}" if item.get("unhealthy") else "ok",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _scope(item: dict[str, Any]) -> str:
    parts = []
    if item.get("allowed_repos"):
        parts.append("repos=" + "|".join(item["allowed_repos"]))
    if item.get("allowed_environments"):
        parts.append("environments=" + "|".join(item["allowed_environments"]))
    return " ".join(parts) or "any"


def _find(api: ApiClient, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [a for a in api.json("GET", "/agents") if a["name"] == name]
    if not found:
        raise click.ClickException(f"no agent {name}; see `runner agent ls`")
    return found[0]


_SCOPE_OPTIONS = (
    click.option("--repos", help='Repository slug patterns it may serve, a,b ("": any).'),
    click.option("--environments", help='Environments it may deploy to, a,b ("": any).'),
)


def registration(
    labels: str | None, capacity: int | None, repos: str | None, environments: str | None
) -> dict[str, Any]:
    """The registration fields given on the command line (an option not given is left out)."""
    fields = {
        "labels": labels,
        "capacity": capacity,
        "allowed_repos": repos,
        "allowed_environments": environments,
    }
    return {key: value for key, value in fields.items() if value is not None}


def print_new_agent_token(
    name: str,
    labels: str | None,
    capacity: int | None,
    repos: str | None,
    environments: str | None,
) -> None:
    """Register agent ``name`` (or change what is given of its registration) and print a new
    token for it, shown once: `runner agent token create` and `runner user agent-token`."""
    fields = {"name": name, **registration(labels, capacity, repos, environments)}
    click.echo(client().json("POST", "/agents", json=fields)["token"])


def _scope_options(func: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_SCOPE_OPTIONS):
        func = option(func)
    return func


@agent.command("set")
@click.argument("name")
@click.option("--labels", help="Registered labels k=v,k2=v2 (a leading ! requires it).")
@click.option("--capacity", type=int, help="Registered capacity: stages at a time.")
@_scope_options
@api_options
def set_agent(
    name: str,
    labels: str | None,
    capacity: int | None,
    repos: str | None,
    environments: str | None,
) -> None:
    """Change what agent NAME is registered for (only the options given); the change goes into
    its history with your name. Its token stays valid."""
    fields = registration(labels, capacity, repos, environments)
    if not fields:
        raise click.UsageError("give --labels, --capacity, --repos or --environments")
    api = client()
    found = _find(api, name)
    item = api.json("PATCH", f"/agents/{found['id']}", json=fields)
    click.echo(
        f"agent {name}: labels {_labels(item['labels']) or '(none)'}, capacity "
        f"{item['capacity']}, scope {_scope(item)}"
    )


@agent.command("history")
@click.argument("name")
@api_options
def agent_history(name: str) -> None:
    """Who registered and changed agent NAME, and when, newest first."""
    api = client()
    found = _find(api, name)
    for entry in api.json("GET", f"/agents/{found['id']}/history"):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["created"]))
        click.echo(f"{stamp}Z  {entry['actor'] or '-'}  {entry['kind']}: {entry['message']}")


@agent.group("token")
@api_options
def token_group() -> None:
    """Create or revoke agent tokens through the server's API (as an admin).

    `runner user agent-token NAME` does the same as `runner agent token create NAME`.
    """


@token_group.command("create")
@click.argument("name")
@click.option("--labels", help="Agent labels k=v,k2=v2 (a leading ! requires it).")
@click.option("--capacity", type=int, help="Stages at a time (default 1).")
@_scope_options
@api_options
def create_token(
    name: str,
    labels: str | None,
    capacity: int | None,
    repos: str | None,
    environments: str | None,
) -> None:
    """Register agent NAME with these labels, capacity and scope and print a new token for it
    (shown once); for an agent that exists, the options given change its registration. The
    agent can never claim beyond its registration."""
    print_new_agent_token(name, labels, capacity, repos, environments)


@token_group.command("revoke")
@click.argument("name")
@api_options
def revoke_token(name: str) -> None:
    """Revoke every token of agent NAME and remove its registration; its next call gets 401."""
    api = client()
    api.call("DELETE", f"/agents/{_find(api, name)['id']}")
    click.echo(f"agent {name}: tokens revoked")
