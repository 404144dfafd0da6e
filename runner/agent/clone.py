"""Fills a stage's workspace with the build's commit, through the agent's git mirror.

The mirror (``runner.gitmirror.Mirror``) keeps one bare repository per URL under
``cache_dir``; the commit is exported into a temporary working copy honouring the stage's
``clone`` settings (depth, tags, submodules, skip_verify) and copied into the workspace with
``engine.copy_to_workspace``. Raises ``EngineError``/``NotFound`` (both ``RunnerError``) with a
message fit for the step log. Submodules of an untrusted stage come only from the repository's
own host (``runner.git_urls.submodule_refusal``); credentials in URLs are never logged.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from runner.engine.base import Engine, LogSink, RunId
from runner.git_urls import redact_url
from runner.gitmirror import Mirror
from runner.pipeline.spec import StageSpec

DEFAULT_CACHE_DIR = "~/.pipeline-runner/mirrors"


@dataclass
class CloneSource:
    """Where a stage's code comes from: the repository URL and the commit (or ref) to check
    out; ``branch`` names the local branch of the working copy."""

    url: str
    commit: str = ""
    ref: str = ""
    branch: str = ""
    cache_dir: str = DEFAULT_CACHE_DIR


def clone_workspace(
    engine: Engine, run: RunId, stage: StageSpec, source: CloneSource, log: LogSink
) -> str:
    """Fetch ``source`` into its mirror and copy the commit's tree into the workspace of the
    engine's ``run`` of ``stage``.

    Must be called between ``engine.setup`` and the first step. Returns the commit sha.
    """
    mirror = Mirror(os.path.expanduser(source.cache_dir), source.url)
    log(f"+ fetch {redact_url(source.url)} {source.commit or source.ref or 'HEAD'}")
    skip_verify = stage.clone.skip_verify
    if skip_verify:
        log("TLS certificates are not verified (clone: skip_verify)")
    sha = mirror.update(
        commit=source.commit or None, ref=source.ref or None, skip_verify=skip_verify
    )
    with tempfile.TemporaryDirectory(prefix="pipeline-runner-clone-") as tmp:
        mirror.export(
            sha,
            tmp,
            depth=stage.clone.depth,
            tags=stage.clone.tags,
            submodules=stage.clone.submodules,
            branch=source.branch,
            trusted=stage.trusted,
            skip_verify=skip_verify,
            log=log,
        )
        engine.copy_to_workspace(run, tmp)
    return sha
