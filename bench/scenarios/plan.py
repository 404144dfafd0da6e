"""`runner plan` of the whole corpus of real pipeline files (in process), per file.

Times the plan building of ``runner plan`` (``runner.pipeline.plan.plan_files``: substitute,
parse, lint, conditions, compile and the projection) for a push to the default branch, over
every corpus file; a file all of whose stages are for another runner ends in its "nothing to
run" error, as ``runner plan`` does. The floor is composing the YAML of the same texts with
libyaml (no Python objects built), measured in the same run, so ``ratio`` says what planning
costs on top of reading YAML. Target: under 25 ms per file on average and a ratio under 20.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import yaml

from runner.errors import PipelineError
from runner.pipeline.corpus_report import PUSH, corpus_files, default_corpus_dir, original_paths
from runner.pipeline.plan import plan_files

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ROUNDS = 3
TARGET_MS_PER_FILE = 25.0
TARGET_RATIO = 20.0


def _best(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def run() -> dict[str, Any]:
    directory = default_corpus_dir()
    if not directory.is_dir():
        raise SystemExit(f"corpus not found at {directory}")
    paths = original_paths(directory)
    # (name in its repository, text): the repository name decides the dialect
    files = [
        (paths.get(p.name, p.name), p.read_text(encoding="utf-8")) for p in corpus_files(directory)
    ]
    slowest = [0.0]

    def plan_all() -> int:
        planned = 0
        for path, text in files:
            started = time.perf_counter()
            try:
                plan_files({path: text}, PUSH, trusted=True)
                planned += 1
            except PipelineError:
                pass
            slowest[0] = max(slowest[0], time.perf_counter() - started)
        return planned

    def yaml_floor() -> None:
        for _, text in files:
            list(yaml.compose_all(text, Loader=_LOADER))

    planned = plan_all()  # warm up, and the count
    slowest[0] = 0.0
    plan_seconds = _best(plan_all)
    floor_seconds = _best(yaml_floor)
    per_file_ms = plan_seconds * 1000 / max(len(files), 1)
    ratio = plan_seconds / floor_seconds if floor_seconds else 0.0
    return {
        "scenario": "plan",
        "files": len(files),
        "planned": planned,
        "seconds": round(plan_seconds, 4),
        "per_file_ms": round(per_file_ms, 3),
        "slowest_file_ms": round(slowest[0] * 1000, 2),
        "floor_yaml_seconds": round(floor_seconds, 4),
        "ratio": round(ratio, 2),
        "target": f"per_file_ms < {TARGET_MS_PER_FILE}, ratio < {TARGET_RATIO}",
        "met": per_file_ms < TARGET_MS_PER_FILE and ratio < TARGET_RATIO,
    }
