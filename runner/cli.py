"""The ``runner`` command. Each subcommand lives in its own module under ``runner.commands``."""

from __future__ import annotations

import importlib

import click

from runner import __version__

# Which module defines each subcommand (by ``register(group)``); one module per area so areas do
# not collide. Modules are imported only when their command runs, so ``runner login`` does not
# pay for the Docker client that ``runner exec`` needs.
COMMAND_MODULES = {
    "lint": "runner.commands.lint",
    "exec": "runner.commands.exec",
    "plan": "runner.commands.plan",
    "cache": "runner.commands.cache",
    "server": "runner.commands.server",
    "agent": "runner.commands.agent",
    "user": "runner.commands.user",
    "secret": "runner.commands.secret",
    "registry": "runner.commands.registry",
    "build": "runner.commands.build",
    "plugin": "runner.commands.plugin",
    "repo": "runner.commands.repo",
    "cron": "runner.commands.cron",
    "env": "runner.commands.env",
    "deploy": "runner.commands.deploy",
    "events": "runner.commands.events",
    "login": "runner.commands.login",
    "logout": "runner.commands.login",
    "db": "runner.commands.db",
}


class LazyCommands(click.Group):
    """A group that imports a subcommand's module the first time the subcommand is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is None:
            return None
        if cmd_name not in self.commands:
            importlib.import_module(module).register(self)
        return self.commands.get(cmd_name)


@click.group(cls=LazyCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runner")
def cli() -> None:
    """pipeline-runner: run Drone and Woodpecker pipelines in containers."""


def main() -> None:
    cli(prog_name="runner")
