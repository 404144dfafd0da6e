"""The labels every container, network and volume of a run carries, and cache volume names.

One place for them: the engine sets them, its cleanup finds leftovers and caches by them, and
``runner cache`` lists and prunes by them.
"""

from __future__ import annotations

import hashlib
import re

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
