"""Matrix expansion (Drone 0.8 and Woodpecker): one stage per combination of the axes."""

from __future__ import annotations

import itertools
from typing import Any

from runner.pipeline.issues import IssueList
from runner.pipeline.yamlload import YMap, to_text

MAX_COMBINATIONS = 64


def expand_matrix(value: Any, line: int, issues: IssueList) -> list[dict[str, str]]:
    """The combinations of a ``matrix:`` value, in file order; ``[{}]`` when there is none.

    ``{AXIS: [v1, v2], ...}`` gives the cartesian product; ``{include: [{...}, ...]}`` gives
    the listed maps. More than ``MAX_COMBINATIONS`` is an error (the first ones are kept).
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
        combos = [dict(c) for c in itertools.product(*axes)] if axes else [{}]
    if len(combos) > MAX_COMBINATIONS:
        issues.error(
            line,
            "matrix",
            f"the matrix has {len(combos)} combinations; at most {MAX_COMBINATIONS} are run: "
            "split it or use include:",
        )
        combos = combos[:MAX_COMBINATIONS]
    return combos or [{}]


def matrix_name(name: str, combo: dict[str, str]) -> str:
    """The stage name of one combination: ``test (PHP=8.1, DB=mysql)``."""
    if not combo:
        return name
    return f"{name} ({', '.join(f'{k}={v}' for k, v in combo.items())})"
