"""Run the corpus of real pipeline files through the whole chain and count what passes.

``python -m runner.pipeline.corpus_report [DIR]`` (default: ``shared/corpus`` beside the
repository) reads each file, then for a push to the default branch and for the tag
``v1.2.3`` runs parse, lint, conditions and compile (as a trusted repository, as those
projects were on their own servers). It prints one line per file that does not pass and a
summary. The module reads files; the chain it calls does not.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import PipelineError
from runner.pipeline.config import load_pipeline
from runner.pipeline.spec import BuildContext

PUSH = BuildContext(
    repo="corpus/repo",
    event="push",
    branch="main",
    default_branch="main",
    commit="4f1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a",
    message="corpus push",
    author="corpus",
)
TAG = BuildContext(
    repo="corpus/repo",
    event="tag",
    branch="main",
    default_branch="main",
    tag="v1.2.3",
    ref="refs/tags/v1.2.3",
    commit="9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b",
    message="corpus tag",
    author="corpus",
)


@dataclass
class FileResult:
    """The outcome of one corpus file: ``error`` is empty when both builds compiled."""

    name: str
    stages: int = 0
    error: str = ""
    warnings: int = 0
    seconds: float = 0.0
    unsupported: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.error


def repository_root() -> Path:
    """The root of this repository (the folder holding ``runner/``)."""
    return Path(__file__).resolve().parents[2]


def default_corpus_dir() -> Path:
    """``<repo>/../shared/corpus``; ``RUNNER_CORPUS_DIR`` overrides it."""
    override = os.environ.get("RUNNER_CORPUS_DIR")
    return Path(override) if override else repository_root().parent / "shared" / "corpus"


def corpus_files(directory: Path) -> list[Path]:
    """The pipeline files of the corpus (every file under it but README.md and sources.tsv)."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and p.name not in ("README.md", "sources.tsv")
    )


def original_paths(directory: Path) -> dict[str, str]:
    """Corpus file name → its path in its repository, from ``sources.tsv``."""
    sources = directory / "sources.tsv"
    if not sources.is_file():
        return {}
    out = {}
    for row in sources.read_text(encoding="utf-8").splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 3:
            continue
        owner, _, repo = cols[1].partition("/")
        out[f"{owner}__{repo}__{cols[2].replace('/', '_')}"] = cols[2]
    return out


def check_text(name: str, text: str, path: str = "") -> FileResult:
    """Run one file through the chain for a push and a tag build; ``path`` is the name the
    file had in its repository (it decides the dialect and the Woodpecker stage name)."""
    result = FileResult(name)
    started = time.perf_counter()
    for ctx in (PUSH, TAG):
        try:
            build = load_pipeline({path or name: text}, ctx, trusted=True)
        except PipelineError as exc:
            result.error = f"{ctx.event}: {exc}"
            break
        result.stages = max(result.stages, len(build.stages))
        result.warnings = max(result.warnings, len(build.warnings))
        result.unsupported = build.unsupported
    result.seconds = time.perf_counter() - started
    return result


def check_corpus(directory: Path) -> list[FileResult]:
    """Check every corpus file; the flavour folder (drone/, woodpecker/) names the dialect."""
    paths = original_paths(directory)
    results = []
    for path in corpus_files(directory):
        name = f"{path.parent.name}/{path.name}"
        text = path.read_text(encoding="utf-8")
        results.append(check_text(name, text, paths.get(path.name, "")))
    return results


def main(argv: list[str] | None = None) -> int:
    """Print the failing files and the pass count; 2 when the corpus is missing."""
    argv = sys.argv[1:] if argv is None else argv
    directory = Path(argv[0]) if argv else default_corpus_dir()
    if not directory.is_dir():
        print(f"corpus not found at {directory}: pass its directory", file=sys.stderr)
        return 2
    results = check_corpus(directory)
    for result in results:
        if not result.passed:
            print(f"FAIL {result.name}: {result.error}")
    passed = sum(r.passed for r in results)
    print(f"{passed}/{len(results)} corpus files pass (parse, lint, conditions, compile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
