"""The ``runner`` command table: each subcommand is found in the module the table names."""

from __future__ import annotations

import importlib

import click

from runner.cli import COMMAND_MODULES


def test_every_module_registers_exactly_the_commands_the_table_gives_it():
    for module in set(COMMAND_MODULES.values()):
        group = click.Group()
        importlib.import_module(module).register(group)
        expected = {name for name, owner in COMMAND_MODULES.items() if owner == module}
        assert set(group.commands) == expected, module


def test_a_light_command_does_not_import_the_docker_client():
    import subprocess
    import sys

    probe = (
        "import sys; from runner.cli import cli; "
        "cli.get_command(None, 'login'); print('docker' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
