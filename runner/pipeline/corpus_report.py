"""Run the corpus of real pipeline files through the whole chain and count what passes.

``python -m runner.pipeline.corpus_report [DIR]`` (default: ``shared/corpus`` beside the
repository) reads each file, lints it, then plans it (``runner.pipeline.plan``: parse, lint,
conditions, compile) for a push to the default branch and for the tag ``v1.2.3``, as a trusted
repository, as those projects were on their own servers. It prints how many files lint and
plan for each event, every stage the Docker engine cannot run with the reason (a file all of
whose stages are for another runner, such as Kubernetes or exec, is reported, not failed),
and one line per file that does not plan. The module reads files; the chain it calls does not.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import PipelineError
from runner.pipeline.issues import blocking
from runner.pipeline.lint import lint_files, read_files, unrunnable_reason
from runner.pipeline.plan import plan_files
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
    """The outcome of one corpus file.

    ``error``: the first event's plan error ("" when both plans were made). ``lint_errors``:
    blocking lint issues. ``not_runnable``: each stage the Docker engine cannot run, with why.
    """

    name: str
    stages: int = 0
    error: str = ""
    warnings: int = 0
    seconds: float = 0.0
    lint_errors: int = 0
    planned: list[str] = field(default_factory=list)  # the events a plan was made for
    not_runnable: dict[str, str] = field(default_factory=dict)
    all_stages: int = 0

    @property
    def passed(self) -> bool:
        return not self.error

    @property
    def other_runner(self) -> bool:
        """Every stage is for a runner other than Docker (Kubernetes, exec, Windows...)."""
        return bool(self.not_runnable) and len(self.not_runnable) == self.all_stages


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
    """Lint one file and plan it for a push and a tag build; ``path`` is the name the file had
    in its repository (it decides the dialect and the Woodpecker stage name)."""
    result = FileResult(name)
    files = {path or name: text}
    started = time.perf_counter()
    result.lint_errors = len(blocking(lint_files(files, trusted=True)))
    for ctx in (PUSH, TAG):
        try:
            plan = plan_files(files, ctx, trusted=True)
        except PipelineError as exc:
            result.error = result.error or f"{ctx.event}: {exc}"
            continue
        result.planned.append(ctx.event)
        runnable = plan.runnable
        result.stages = max(result.stages, len(runnable))
        result.warnings = max(result.warnings, len(plan.warnings))
    models, _ = read_files(files, PUSH)
    result.all_stages = len(models)
    for model in models:
        reason = unrunnable_reason(model)
        if reason:
            result.not_runnable[model.name] = reason.removeprefix(f'pipeline "{model.name}": ')
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


def report(results: list[FileResult]) -> list[str]:
    """The report's lines: counts, stages the Docker engine cannot run, files that fail."""
    total = len(results)
    other = [r for r in results if r.other_runner]
    lines = [
        f"{total} corpus files",
        f"lint without errors: {sum(not r.lint_errors for r in results)}/{total}",
        f"plan for push:       {sum('push' in r.planned for r in results)}/{total}",
        f"plan for tag:        {sum('tag' in r.planned for r in results)}/{total}",
        f"for another runner:  {len(other)} (every stage is one the Docker engine cannot run)",
        "",
        "not runnable by the Docker engine (reported, not run):",
    ]
    for result in results:
        for stage, reason in result.not_runnable.items():
            lines.append(f"  {result.name}: {stage}: {reason}")
    failing = [r for r in results if not r.passed and not r.other_runner]
    lines += ["", f"files that do not plan: {len(failing)}"]
    lines += [f"  FAIL {r.name}: {r.error}" for r in failing]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the report; 2 when the corpus is missing."""
    argv = sys.argv[1:] if argv is None else argv
    directory = Path(argv[0]) if argv else default_corpus_dir()
    if not directory.is_dir():
        print(f"corpus not found at {directory}: pass its directory", file=sys.stderr)
        return 2
    print("\n".join(report(check_corpus(directory))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
