"""The labels every container, network and volume of a run carries, and cache volume names.

One place for them: the engine sets them, its cleanup finds leftovers and caches by them, and
``runner cache`` lists and prunes by them. Pure functions.
"""

from __future__ import annotations

import hashlib
import re

from runner.pipeline.spec import Mount, StageSpec
from runner.pipeline.trust import FORK, stage_trust

LABEL_BUILD = "pipeline-runner.build"
LABEL_STAGE = "pipeline-runner.stage"
LABEL_STEP = "pipeline-runner.step"
# The agent that made a resource: what an interrupted agent's next start cleans up by.
LABEL_AGENT = "pipeline-runner.agent"
# One id per stage run (per ``setup``): what ``destroy`` sweeps by when unsure.
LABEL_RUN = "pipeline-runner.run"
# Cache volumes are kept across builds; ``1`` marks them so cleanups leave them alone.
LABEL_CACHE = "pipeline-runner.cache"
LABEL_CACHE_REPO = "pipeline-runner.cache.repo"
LABEL_CACHE_KEY = "pipeline-runner.cache.key"
LABEL_CACHE_PATH = "pipeline-runner.cache.path"
LABEL_CACHE_TRUST = "pipeline-runner.cache.trust"


def cache_volume_name(repo: str, key: str, path: str = "", scope: str = "") -> str:
    """The volume name of cache ``key`` of repository ``repo`` mounted at ``path``.

    Stable across runs. The path is part of the identity so that two cached directories of
    one step (``node_modules`` and ``.m2``) never share a volume. ``scope`` keeps the caches
    of fork pull requests (``fork``) apart from those of the repository's own builds (``""``),
    so nothing a fork writes is read by a build with secrets.
    """
    name = f"{repo}-{key}-{scope}" if scope else f"{repo}-{key}"
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", name).strip("-.")[:60]
    identity = f"{repo}\0{key}\0{path}" + (f"\0{scope}" if scope else "")
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    return f"pr-cache-{slug}-{digest}"


def run_labels(
    stage: StageSpec, agent_name: str, run_id: str, extra: dict[str, str]
) -> dict[str, str]:
    """The labels of every resource of one run of ``stage`` by agent ``agent_name``."""
    return {
        LABEL_BUILD: _build_number(stage),
        LABEL_STAGE: stage.name,
        LABEL_AGENT: agent_name,
        LABEL_RUN: run_id,
        **extra,
    }


def cache_volume(stage: StageSpec, mount: Mount) -> str:
    """The name of the cache volume a ``cache`` mount of ``stage`` uses."""
    return cache_volume_name(_cache_repo(stage), mount.source, mount.target, _cache_scope(stage))


def cache_labels(
    stage: StageSpec, mount: Mount, agent_name: str, extra: dict[str, str]
) -> dict[str, str]:
    """The labels of that cache volume: what ``runner cache`` lists, and what keeps cleanups
    from removing it."""
    return {
        LABEL_CACHE: "1",
        LABEL_CACHE_REPO: _cache_repo(stage),
        LABEL_CACHE_KEY: mount.source,
        LABEL_CACHE_PATH: mount.target,
        LABEL_CACHE_TRUST: _cache_scope(stage),
        LABEL_AGENT: agent_name,
        **extra,
    }


def _build_number(stage: StageSpec) -> str:
    """The build number the stage belongs to, for its resources' labels: the compiler puts it
    into every step's environment (the stage's own environment only when a pipeline sets it)."""
    for env in (stage.environment, *(u.environment for u in (*stage.steps, *stage.services))):
        number = env.get("DRONE_BUILD_NUMBER") or env.get("CI_BUILD_NUMBER")
        if number:
            return str(number)
    return "0"


def _cache_repo(stage: StageSpec) -> str:
    return stage.repo or stage.environment.get("DRONE_REPO", "") or "local"


def _cache_scope(stage: StageSpec) -> str:
    """Forks get caches of their own: a fork's write must never reach an own build."""
    return FORK if stage_trust(stage) == FORK else ""
