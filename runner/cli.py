"""The ``runner`` command. Each subcommand lives in its own module under ``runner.commands``."""

from __future__ import annotations

import importlib

import click

from runner import __version__

# Modules that each define ``register(group)``; one per area so areas do not collide.
COMMAND_MODULES = [
    "runner.commands.lint",
    "runner.commands.exec",
    "runner.commands.cache",
    "runner.commands.server",
    "runner.commands.agent",
    "runner.commands.user",
    "runner.commands.secret",
    "runner.commands.build",
    "runner.commands.plugin",
    "runner.commands.repo",
    "runner.commands.cron",
    "runner.commands.env",
    "runner.commands.login",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runner")
def cli() -> None:
    """pipeline-runner: run Drone and Woodpecker pipelines in containers."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(cli)


def main() -> None:
    cli(prog_name="runner")
