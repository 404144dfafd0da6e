"""Which files of a commit are the pipeline: the lookup order of DESIGN.md. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from runner.globs import glob_match

PIPELINE_FILE_ORDER = (
    ".pipeline.yml",
    ".pipeline.yaml",
    ".drone.yml",
    ".drone.yaml",
    ".woodpecker/*.yml|yaml",
    ".woodpecker.yml",
    ".woodpecker.yaml",
)


def select_pipeline_files(paths: Iterable[str], configured: str = "") -> list[str]:
    """The pipeline files among ``paths`` (repository-relative, ``/``-separated).

    ``configured`` (the repository's pipeline path) wins when set: a file path, or a folder
    (every ``.yml``/``.yaml`` directly in it, sorted), or a glob. Otherwise the first entry of
    ``PIPELINE_FILE_ORDER`` present is used; ``.woodpecker/`` gives all its YAML files, sorted.
    Returns ``[]`` when nothing matches.
    """
    present = sorted({_clean(p) for p in paths})
    if configured:
        configured = _clean(configured).rstrip("/")
        if configured in present:
            return [configured]
        if any(c in configured for c in "*?["):
            return [p for p in present if glob_match(p, configured)]
        return _yaml_in(present, configured)
    for entry in PIPELINE_FILE_ORDER:
        if entry.startswith(".woodpecker/"):
            found = _yaml_in(present, ".woodpecker")
            if found:
                return found
        elif entry in present:
            return [entry]
    return []


def _clean(path: str) -> str:
    """``./a/b`` and ``/a/b`` as ``a/b`` (paths are relative to the repository root)."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def _yaml_in(present: list[str], folder: str) -> list[str]:
    prefix = folder.rstrip("/") + "/"
    return [
        p
        for p in present
        if p.startswith(prefix) and "/" not in p[len(prefix) :] and p.endswith((".yml", ".yaml"))
    ]
