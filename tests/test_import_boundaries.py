"""The layers keep their boundaries: an AST scan of the source tree fails when a module imports
across one. ``runner/pipeline`` imports nothing of the server, store, engine or agent;
``runner/engine`` nothing of the agent, server, store, commands or pages; the web UI and the
REST API nothing of the store (they go through ``runner.services`` and ``current_services()``);
``runner/services`` nothing of Flask, the web UI or the API. Every import counts: at the top,
inside functions, under ``TYPE_CHECKING``. A unit test proves the scanner catches imports
planted in a temporary tree."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Boundary:
    """Modules under ``folder`` (a path from the root) import nothing under ``forbidden``."""

    folder: str
    forbidden: tuple[str, ...]
    why: str


BOUNDARIES = (
    Boundary(
        "runner/pipeline",
        ("runner.server", "runner.store", "runner.engine", "runner.agent"),
        "the pipeline is text in, spec out: no I/O, shared by server, agent and `runner exec`",
    ),
    Boundary(
        "runner/engine",
        ("runner.agent", "runner.server", "runner.store", "runner.commands", "webui"),
        "the engine sits below the agent",
    ),
    Boundary("webui", ("runner.store",), "pages act through runner.services"),
    Boundary("runner/server/api", ("runner.store",), "the API acts through runner.services"),
    Boundary(
        "runner/services",
        ("flask", "webui", "runner.server.api"),
        "actions serve the API, the pages and the CLI alike",
    ),
)


def _module_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of every import in the file, relative ones resolved; ``from a import
    b`` yields ``a.b`` too, since ``b`` may be a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_of(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(root: Path, boundaries: tuple[Boundary, ...] = BOUNDARIES) -> list[str]:
    """Every import across a boundary under ``root``, as ``path:line imports module (why)``."""
    found: list[str] = []
    for boundary in boundaries:
        for path in sorted((root / boundary.folder).rglob("*.py")):
            seen: set[tuple[int, str]] = set()
            for line, module in imported_modules(path, root):
                for prefix in boundary.forbidden:
                    if _under(module, prefix) and (line, prefix) not in seen:
                        seen.add((line, prefix))
                        where = path.relative_to(root)
                        found.append(f"{where}:{line} imports {module} ({boundary.why})")
    return found


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=lambda b: b.folder)
def test_the_source_tree_keeps_the_boundary(boundary):
    assert (ROOT / boundary.folder).is_dir(), f"{boundary.folder} moved: update BOUNDARIES"
    assert violations(ROOT, (boundary,)) == []


PLANTED = {
    "runner/pipeline/ok.py": "import re\nfrom runner.errors import PipelineError\n",
    "runner/pipeline/bad.py": "def f():\n    from runner.store.models import BuildRow\n",
    "runner/pipeline/sub/__init__.py": "from ...engine import docker\n",
    "runner/engine/bad.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
    "    import runner.agent.cleanup\n",
    "webui/bad.py": "from runner import store\n",
    "webui/ok.py": "from runner.server.services import current_services\n",
    "runner/server/api/bad.py": "from runner.store.repos import FORGES\n",
    "runner/services/bad.py": "from flask import request\n"
    "from runner.server.api.common import body\n",
    "runner/services/ok.py": "from runner.server.rpc_fields import storable\n",
}


def test_the_scanner_catches_planted_imports(tmp_path):
    for name, text in PLANTED.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    found = sorted(v.split(" (")[0] for v in violations(tmp_path))
    assert found == [
        "runner/engine/bad.py:3 imports runner.agent.cleanup",
        "runner/pipeline/bad.py:2 imports runner.store.models",
        "runner/pipeline/sub/__init__.py:1 imports runner.engine",
        "runner/server/api/bad.py:1 imports runner.store.repos",
        "runner/services/bad.py:1 imports flask",
        "runner/services/bad.py:2 imports runner.server.api.common",
        "webui/bad.py:1 imports runner.store",
    ]
