"""Which files of a commit are the pipeline: the lookup order of DESIGN.md. Pure."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

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
    present = sorted({p.lstrip("./") if p.startswith("./") else p for p in paths})
    if configured:
        configured = configured.strip("/") if not configured.startswith("./") else configured[2:]
        if configured in present:
            return [configured]
        if any(c in configured for c in "*?["):
            return [p for p in present if fnmatch.fnmatchcase(p, configured)]
        return _yaml_in(present, configured)
    for entry in PIPELINE_FILE_ORDER:
        if entry.startswith(".woodpecker/"):
            found = _yaml_in(present, ".woodpecker")
            if found:
                return found
        elif entry in present:
            return [entry]
    return []


def _yaml_in(present: list[str], folder: str) -> list[str]:
    prefix = folder.rstrip("/") + "/"
    return [
        p
        for p in present
        if p.startswith(prefix) and "/" not in p[len(prefix) :] and p.endswith((".yml", ".yaml"))
    ]
