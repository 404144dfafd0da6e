"""From the text of pipeline files to model stages: matrix, substitution, YAML, dialects.

Order per file, as in Drone and Woodpecker: the ``matrix:`` is read from the raw text, then
for each combination the text is substituted (build variables plus the matrix axes), loaded
as YAML and read by the reader of its dialect.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from runner.errors import PipelineError
from runner.pipeline import limits
from runner.pipeline.issues import Issue, IssueList
from runner.pipeline.matrix import expand_matrix, matrix_name
from runner.pipeline.model import DRONE, DRONE08, WOODPECKER, Stage
from runner.pipeline.parse_drone import parse_drone_document
from runner.pipeline.parse_maps import parse_map_document
from runner.pipeline.substitute import substitute
from runner.pipeline.yamlload import YMap, check_size, load_documents

VariablesFor = Callable[[dict[str, str]], dict[str, str]]


def file_dialect(file: str) -> str:
    """The dialect a file name suggests: Woodpecker for ``.woodpecker.yml`` and files in a
    ``.woodpecker/`` (or ``woodpecker/``) folder, else Drone."""
    parts = file.replace("\\", "/").lower().rsplit("/", 2)
    base = parts[-1]
    folder = parts[-2] if len(parts) > 1 else ""
    if ".woodpecker" in base or folder.lstrip(".") == "woodpecker":
        return WOODPECKER
    return DRONE


def stage_name_for(file: str) -> str:
    """Woodpecker's workflow name: the file name without extension and leading dots
    (``.woodpecker/test.yml`` and ``.woodpecker/.test.yml`` are ``test``; ``.woodpecker.yml``
    is ``woodpecker``)."""
    base = posixpath.basename(file.replace("\\", "/")).lstrip(".")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return stem or "default"


def parse_file(
    file: str,
    text: str,
    variables_for: VariablesFor,
    *,
    steps_before: int = 0,
    secrets: Mapping[str, str] | None = None,
) -> tuple[list[Stage], list[Issue]]:
    """Read one file into stages (one per document and matrix combination).

    ``variables_for(matrix)`` gives the substitution variables for one combination;
    ``steps_before`` is the count of steps read from the build's earlier files. ``secrets``
    maps the names of secrets that may be substituted to their placeholders
    (``runner.pipeline.secret_subst``): used in Drone 0.8 files only, as only Drone 0.5–0.8
    substituted secrets.
    Raises ``PipelineError`` when the text cannot be substituted or is not valid YAML,
    ``BudgetExceeded`` when it is over a limit of ``runner.pipeline.limits`` (checked before
    the work it bounds); every other problem is returned as an issue.
    """
    check_size(text, file)  # the rest of the YAML budgets: each time the text is loaded
    issues = IssueList(file)
    combos = _matrix_of(file, text, issues, variables_for)
    stages: list[Stage] = []
    seen: set[tuple[int, str, str]] = {(i.line, i.path, i.message) for i in issues}
    read = 0
    steps = steps_before
    for number, combo in enumerate(combos):
        local = IssueList(file)
        substituted = substitute(text, variables_for(combo), file=file)
        read = _count_read(read, len(substituted), file, len(combos))
        docs = load_documents(substituted, file, local)
        if secrets and _is_drone08(file, docs):
            local = IssueList(file)
            substituted = substitute(text, variables_for(combo), file=file, opaque=secrets)
            read = _count_read(read, len(substituted), file, len(combos))
            docs = load_documents(substituted, file, local)
        for index, (doc, line) in enumerate(docs):
            stage = _parse_document(file, doc, index, line, local)
            if stage is None:
                continue
            steps += len(stage.steps) + len(stage.services)
            if steps > limits.MAX_STEPS:
                raise limits.over_budget(
                    f"the build has more than {limits.MAX_STEPS} steps",
                    limits.MAX_STEPS,
                    "steps per build",
                    file=file,
                    line=stage.line or line,
                    fix="split the work over fewer, larger steps",
                )
            stage.matrix = dict(combo)
            if len(combos) > 1:
                stage.name = matrix_name(stage.name, combo)
            stages.append(stage)
        for issue in local:
            key = (issue.line, issue.path, issue.message)
            if key not in seen and (number == 0 or issue.blocking):
                seen.add(key)
                issues.append(issue)
    if not stages and not any(i.blocking for i in issues):
        issues.error(
            1, "", "no pipeline found in the file: add a kind: pipeline document or steps:"
        )
    return stages, list(issues)


def _count_read(read: int, more: int, file: str, combos: int) -> int:
    """``read + more``, the bytes of text read for the file so far; ``BudgetExceeded`` past
    ``limits.MAX_TEXT_BYTES``."""
    read += more
    if read > limits.MAX_TEXT_BYTES:
        raise limits.over_budget(
            f"the matrix makes {combos} copies of the file to read",
            limits.MAX_TEXT_BYTES,
            "bytes of pipeline text over all matrix combinations",
            file=file,
            line=1,
            fix="use fewer combinations or a shorter file",
        )
    return read


def _is_drone08(file: str, docs: list[tuple[Any, int]]) -> bool:
    """Whether ``docs`` are a Drone 0.8 file: one document with a ``pipeline:`` map and no
    ``kind``, under a name that is not Woodpecker's (as ``_parse_document`` decides)."""
    if len(docs) != 1 or file_dialect(file) != DRONE:
        return False
    doc = docs[0][0]
    return isinstance(doc, dict) and "kind" not in doc and isinstance(doc.get("pipeline"), dict)


def _matrix_of(
    file: str, text: str, issues: IssueList, variables_for: VariablesFor
) -> list[dict[str, str]]:
    """The matrix combinations, read from the raw text; when ``${...}`` makes the raw text
    invalid YAML (``[echo ${V}]``), from the text substituted without matrix variables."""
    if "matrix" not in text:
        return [{}]
    try:
        docs = load_documents(text, file, IssueList(file))
    except PipelineError:
        try:
            docs = load_documents(substitute(text, variables_for({})), file, IssueList(file))
        except PipelineError:
            return [{}]  # the substituted text will report the problem with its line
    if len(docs) != 1 or not isinstance(docs[0][0], YMap) or "kind" in docs[0][0]:
        return [{}]
    doc = docs[0][0]
    return expand_matrix(doc.get("matrix"), doc.line_of("matrix") if "matrix" in doc else 0, issues)


def _parse_document(file: str, doc: Any, index: int, line: int, issues: IssueList) -> Stage | None:
    prefix = f"[{index}]" if index else ""
    if not isinstance(doc, dict):
        issues.error(
            line,
            prefix,
            "a pipeline document must be a map (kind: pipeline, steps: ...), not a list or a value",
        )
        return None
    dialect = file_dialect(file)
    if "kind" in doc:
        return parse_drone_document(doc, file, index, line, issues)
    if "pipeline" in doc and isinstance(doc["pipeline"], dict) and dialect == DRONE:
        return parse_map_document(doc, file, "default", line, issues, DRONE08)
    if "steps" in doc or "pipeline" in doc:
        if dialect == DRONE and isinstance(doc.get("steps"), list):
            issues.warning(line, prefix, "document without kind: read as kind: pipeline")
            return parse_drone_document(doc, file, index, line, issues)
        return parse_map_document(doc, file, stage_name_for(file), line, issues, WOODPECKER)
    issues.error(
        line,
        prefix,
        "not a pipeline: expected kind: pipeline (Drone), pipeline: (Drone 0.8) "
        "or steps: (Woodpecker)",
    )
    return None
