"""Removing what runs leave behind: leftovers of an interrupted agent, and cache volumes.

Leftovers are found by the ``pipeline-runner.agent`` label every container, network and
volume of a stage carries. Cache volumes (``pipeline-runner.cache=1``) are kept across builds
and only removed by ``prune_caches`` (``runner cache prune``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from runner.engine.labels import (
    LABEL_AGENT,
    LABEL_CACHE,
    LABEL_CACHE_KEY,
    LABEL_CACHE_PATH,
    LABEL_CACHE_REPO,
    LABEL_CACHE_TRUST,
)


@dataclass
class CacheVolume:
    """One cache volume as ``runner cache ls`` shows it."""

    name: str
    repo: str
    key: str
    path: str
    created: str
    scope: str = ""  # "fork" for the caches of fork pull requests


def cleanup_leftovers(client: docker.DockerClient, agent_name: str) -> int:
    """Remove containers, networks and volumes (not caches) labelled with ``agent_name``.

    Meant for agent start, when no stage of that agent can be running. Never raises for a
    resource that is already gone. Returns how many resources were removed.
    """
    api = client.api
    flt = {"label": f"{LABEL_AGENT}={agent_name}"}
    removed = 0
    for c in api.containers(all=True, filters=flt, quiet=True):
        removed += _try(api.remove_container, c["Id"], force=True)
    for n in api.networks(filters=flt):
        removed += _try(api.remove_network, n["Id"])
    for v in (api.volumes(filters=flt) or {}).get("Volumes") or []:
        if (v.get("Labels") or {}).get(LABEL_CACHE) != "1":
            removed += _try(api.remove_volume, v["Name"], force=True)
    return removed


def list_caches(client: docker.DockerClient, repo: str = "") -> list[CacheVolume]:
    """The cache volumes on this Docker engine, of ``repo`` only when given."""
    label = f"{LABEL_CACHE_REPO}={repo}" if repo else f"{LABEL_CACHE}=1"
    volumes = (client.api.volumes(filters={"label": label}) or {}).get("Volumes") or []
    out: list[CacheVolume] = []
    for v in volumes:
        labels = v.get("Labels") or {}
        if labels.get(LABEL_CACHE) == "1":
            out.append(
                CacheVolume(
                    v["Name"],
                    labels.get(LABEL_CACHE_REPO, ""),
                    labels.get(LABEL_CACHE_KEY, ""),
                    labels.get(LABEL_CACHE_PATH, ""),
                    v.get("CreatedAt", ""),
                    labels.get(LABEL_CACHE_TRUST, ""),
                )
            )
    return sorted(out, key=lambda c: (c.repo, c.key, c.path))


def prune_caches(client: docker.DockerClient, repo: str = "", key: str = "") -> list[str]:
    """Remove cache volumes (of ``repo``, and ``key``, when given) not used by a container.

    Returns the names removed; a volume in use is left alone.
    """
    removed: list[str] = []
    for cache in list_caches(client, repo):
        if key and cache.key != key:
            continue
        if _try(client.api.remove_volume, cache.name):
            removed.append(cache.name)
    return removed


def _try(func: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    try:
        func(*args, **kwargs)
        return 1
    except docker.errors.APIError:
        return 0
