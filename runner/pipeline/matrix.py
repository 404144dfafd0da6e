"""Matrix expansion (Drone 0.8 and Woodpecker): one stage per combination of the axes."""

from __future__ import annotations

import itertools
import math
from typing import Any

from runner.pipeline import limits
from runner.pipeline.issues import IssueList
from runner.pipeline.yamlload import YMap, to_text


def expand_matrix(value: Any, line: int, issues: IssueList) -> list[dict[str, str]]:
    """The combinations of a ``matrix:`` value, in file order; ``[{}]`` when there is none.

    ``{AXIS: [v1, v2], ...}`` gives the cartesian product; ``{include: [{...}, ...]}`` gives
    the listed maps. Raises ``BudgetExceeded`` when the axes would make more combinations than
    ``limits.MAX_MATRIX_COMBINATIONS`` (counted before any is built).

    Only axis products are capped, as in Drone and Woodpecker (``limitAxis = 25`` in ``Calc``
    of drone/drone's yaml/matrix/matrix.go, now harness/harness, and of Woodpecker's
    pipeline/frontend/yaml/matrix/matrix.go, whose ``Parse`` returns an ``include`` list as
    written); here a larger product is an error that names the limit, so no combination is
    dropped unseen. An ``include`` list is never capped by count: its entries are values of
    the file, bounded by the YAML budgets (``MAX_FILE_BYTES``, ``MAX_YAML_VALUES``), and the
    copies of the file read for them by ``MAX_TEXT_BYTES`` and ``MAX_STEPS`` (``parser``).
    """
    if value is None:
        return [{}]
    if not isinstance(value, dict):
        issues.error(line, "matrix", "matrix must be a map of axis: [values] or include: [...]")
        return [{}]
    if "include" in value:
        include = value["include"]
        if not isinstance(include, list) or not all(isinstance(i, dict) for i in include):
            issues.error(line, "matrix.include", "matrix.include must be a list of maps")
            return [{}]
        combos = [{str(k): to_text(v) for k, v in item.items()} for item in include]
    else:
        axes = []
        for axis, values in value.items():
            if not isinstance(values, list):
                values = [values]
            if any(isinstance(v, (dict, list)) for v in values):
                axis_line = value.line_of(axis) if isinstance(value, YMap) else line
                issues.error(axis_line, f"matrix.{axis}", "matrix values must be plain values")
                return [{}]
            axes.append([(str(axis), to_text(v)) for v in values])
        _check_count(math.prod(len(a) for a in axes), line, issues)
        combos = [dict(c) for c in itertools.product(*axes)] if axes else [{}]
    return combos or [{}]


def _check_count(count: int, line: int, issues: IssueList) -> None:
    if count > limits.MAX_MATRIX_COMBINATIONS:
        raise limits.over_budget(
            f"the matrix has {count} combinations",
            limits.MAX_MATRIX_COMBINATIONS,
            "matrix combinations",
            file=issues.file,
            line=line,
            fix="split it or list the combinations you need with include:",
        )


def matrix_name(name: str, combo: dict[str, str]) -> str:
    """The stage name of one combination: ``test (PHP=8.1, DB=mysql)``."""
    if not combo:
        return name
    return f"{name} ({', '.join(f'{k}={v}' for k, v in combo.items())})"
