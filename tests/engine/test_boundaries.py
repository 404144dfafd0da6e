"""The engine sits below the agent: no module of ``runner/engine`` imports the agent, the server,
the store or the commands (at the top or inside a function), so it fails when one does."""

from __future__ import annotations

import ast
from pathlib import Path

import runner.engine

FORBIDDEN = ("runner.agent", "runner.server", "runner.store", "runner.commands", "webui")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_the_engine_imports_nothing_of_the_agent_server_store_or_commands():
    package = Path(runner.engine.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) > 3
    crossing = [
        f"{path.name}: {name}"
        for path in modules
        for name in _imports(path)
        if name in FORBIDDEN or name.startswith(tuple(f"{f}." for f in FORBIDDEN))
    ]
    assert crossing == []
