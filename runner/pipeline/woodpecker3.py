"""Keys Woodpecker 3.0 removed, reported as Woodpecker 3.x reports them.

Sources: woodpecker-ci/woodpecker docs/src/pages/migrations.md ("3.0.0": former deprecations
that "now result in an error", workflow syntax changes) and the 3.x code that enforces them:

- top-level ``pipeline:``, ``platform:``, ``branches:``: gone from ``types.Workflow``, so the
  schema (linter/schema/schema.json, top-level ``additionalProperties: false``) reports
  "Additional property … is not allowed" as a warning and the key does nothing; without
  ``steps:`` the linter's ``lintFile`` adds the error "Invalid or missing `steps` section".
- step ``secrets:``: linter.go ``lintContainerDeprecations``, an error ("Usage of `secrets`
  is deprecated, use `environment` in combination with `from_secret`").
- step ``environment:`` as a list: types/base/deprecations.go ``EnvironmentMap``, a parse
  error ("list syntax for 'environment' has been removed, use map syntax instead").
- step ``group:``: gone from ``types.Container``; a schema warning, the step runs in order.
- ``when: environment:``: gone from ``constraint.Constraint`` ("removed in favor of
  ``when.evaluate``"); a schema warning, the filter does nothing. So do the other condition
  fields 3.x lacks (``target``, ``branches``, ``paths``, ``action``: see
  ``conditions.WOODPECKER_FIELDS``).
- ``when: event: {include, exclude}``: ``Event`` is a ``base.StringOrSlice`` in 3.x, so the
  map form fails to parse ("failed to unmarshal StringOrSlice"): an error.

``check_removed_keys`` reports them; ``drop_removed_keys`` makes the model do what Woodpecker
3.x does with the ones it ignores.
"""

from __future__ import annotations

from typing import Any

from runner.pipeline import fields
from runner.pipeline.conditions import KNOWN_FIELDS, WOODPECKER_FIELDS
from runner.pipeline.issues import IssueList
from runner.pipeline.model import Stage

_IGNORED = "is not allowed in Woodpecker 3.x and is ignored"
_DEPLOY = "filter with evaluate: 'CI_PIPELINE_DEPLOY_TARGET == \"...\"'"
_WHEN_HINTS = {
    "environment": _DEPLOY,
    "target": _DEPLOY,
    "branches": "write branch:",
    "paths": "write path:",
    "action": "filter with event: or evaluate:",
}


def check_removed_keys(doc: dict[str, Any], issues: IssueList, line: int) -> None:
    """Report every key of the workflow ``doc`` that Woodpecker 3.0 removed."""
    if "pipeline" in doc:
        key_line = fields.key_line(doc, "pipeline", line)
        if "steps" in doc:
            issues.warning(key_line, "pipeline", f'"pipeline" {_IGNORED}')
        else:
            issues.error(
                key_line,
                "pipeline",
                'Woodpecker 3.0 removed the top-level "pipeline:" (its linter: invalid or '
                'missing `steps` section): rename it to "steps:"',
            )
    if "platform" in doc:
        issues.warning(
            fields.key_line(doc, "platform", line),
            "platform",
            f'"platform" {_IGNORED}: set labels: {{platform: ...}} to choose the agent',
        )
    if "branches" in doc:
        issues.warning(
            fields.key_line(doc, "branches", line),
            "branches",
            f'"branches" {_IGNORED}: filter with when: {{branch: ...}}',
        )
    _check_when(doc.get("when"), "when", issues, fields.key_line(doc, "when", line))
    for key in ("steps", "pipeline", "services", "clone"):
        for path, raw in _entries(doc.get(key), key):
            _check_step(raw, path, issues, fields.key_line(doc, key, line))


def _entries(value: Any, key: str) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict):
        return [(f"{key}.{name}", raw) for name, raw in value.items() if isinstance(raw, dict)]
    if isinstance(value, list):
        return [(f"{key}[{i}]", raw) for i, raw in enumerate(value) if isinstance(raw, dict)]
    return []


def _check_step(raw: dict[str, Any], path: str, issues: IssueList, line: int) -> None:
    line = getattr(raw, "line", line) or line
    if "secrets" in raw:
        issues.error(
            fields.key_line(raw, "secrets", line),
            f"{path}.secrets",
            "Usage of `secrets` was removed in Woodpecker 3.0: use `environment` in "
            "combination with `from_secret` (NAME: {from_secret: name})",
        )
    if isinstance(raw.get("environment"), list):
        issues.error(
            fields.key_line(raw, "environment", line),
            f"{path}.environment",
            "list syntax for 'environment' was removed in Woodpecker 3.0: use map syntax "
            "(NAME: value)",
        )
    if "group" in raw:
        issues.warning(
            fields.key_line(raw, "group", line),
            f"{path}.group",
            f'"group" {_IGNORED}: the step runs in order; use depends_on to run steps in parallel',
        )
    _check_when(raw.get("when"), f"{path}.when", issues, line)


def _check_when(when: Any, path: str, issues: IssueList, line: int) -> None:
    for index, item in enumerate(when if isinstance(when, list) else [when]):
        if not isinstance(item, dict):
            continue
        where = f"{path}[{index}]" if isinstance(when, list) else path
        for key in item:
            if key in KNOWN_FIELDS and key not in WOODPECKER_FIELDS:
                issues.warning(
                    fields.key_line(item, key, line),
                    f"{where}.{key}",
                    f'"{key}" {_IGNORED}: {_WHEN_HINTS.get(key, "remove it")}',
                )
        if isinstance(item.get("event"), dict):
            issues.error(
                fields.key_line(item, "event", line),
                f"{where}.event",
                "the include/exclude form of event was removed in Woodpecker 3.0 (it reads a "
                "value or a list only): list the events, event: [push, tag]",
            )


def drop_removed_keys(stage: Stage) -> None:
    """Do with ``stage`` what Woodpecker 3.x does with the removed ``group:``: nothing (the
    top-level ``platform:`` and ``branches:`` are never read for Woodpecker files, and the
    ``when`` fields 3.x lacks are skipped by ``conditions.parse_when``)."""
    for step in stage.all_steps():
        step.group = ""
