"""Lint the whole corpus of real pipeline files (parse, lint, conditions, compile), per file.

Times the logic of `runner lint` (``lint_files``) over every corpus file, and the full chain
(``load_pipeline`` for a push and a tag) for the pass count. The floor is composing the YAML
of the same texts with libyaml (no Python objects built), measured in the same run, so
``ratio`` says what the chain costs on top of reading YAML. Target: under 20 ms per file on
average and a ratio under 15.
"""

from __future__ import annotations

import time

import yaml

from runner.pipeline.corpus_report import (
    check_text,
    corpus_files,
    default_corpus_dir,
    original_paths,
)
from runner.pipeline.lint import lint_files

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ROUNDS = 3
TARGET_MS_PER_FILE = 20.0
TARGET_RATIO = 15.0


def _best(fn) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def run() -> dict:
    directory = default_corpus_dir()
    if not directory.is_dir():
        raise SystemExit(f"corpus not found at {directory}")
    paths = original_paths(directory)
    # (corpus name, name in its repository, text): the repository name decides the dialect
    files = [
        (f"{p.parent.name}/{p.name}", paths.get(p.name, p.name), p.read_text(encoding="utf-8"))
        for p in corpus_files(directory)
    ]

    def lint_all() -> None:
        for _, path, text in files:
            lint_files({path: text}, trusted=True)

    def yaml_floor() -> None:
        for _, _, text in files:
            list(yaml.compose_all(text, Loader=_LOADER))

    lint_seconds = _best(lint_all)
    floor_seconds = _best(yaml_floor)
    results = [check_text(name, text, path) for name, path, text in files]
    passed = sum(r.passed for r in results)
    per_file_ms = lint_seconds * 1000 / max(len(files), 1)
    ratio = lint_seconds / floor_seconds if floor_seconds else 0.0
    return {
        "scenario": "lint-corpus",
        "files": len(files),
        "passed": passed,
        "seconds": round(lint_seconds, 4),
        "per_file_ms": round(per_file_ms, 3),
        "slowest_chain_ms": round(max(r.seconds for r in results) * 1000, 2),
        "floor_yaml_seconds": round(floor_seconds, 4),
        "ratio": round(ratio, 2),
        "target": f"per_file_ms < {TARGET_MS_PER_FILE}, ratio < {TARGET_RATIO}",
        "met": per_file_ms < TARGET_MS_PER_FILE and ratio < TARGET_RATIO,
    }
