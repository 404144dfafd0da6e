"""Conditions: ``when`` on steps, ``trigger`` on Drone pipelines, ``when`` on workflows.

A condition is a list of constraint maps that are OR-ed (Woodpecker's list form; Drone's single
map is a list of one); the fields of one map are AND-ed. Each field is a scalar, a list, or an
``include``/``exclude`` map, matched with the doublestar globs of ``runner.globs``. ``status``
is not matched against the build here: it decides the run policy (``statuses``). An empty
condition always matches.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PipelineError
from runner.globs import glob_match
from runner.pipeline.evaluate import (
    ExpressionError,
    ExpressionTooComplex,
    evaluate,
    parse_expression,
)
from runner.pipeline.issues import IssueList
from runner.pipeline.spec import BuildContext
from runner.pipeline.yamlload import YMap, to_text

LIST_FIELDS = (
    "branch",
    "event",
    "ref",
    "status",
    "target",
    "environment",
    "cron",
    "instance",
    "repo",
    "action",
    "paths",
    "path",
    "platform",
)
KNOWN_FIELDS = LIST_FIELDS + ("matrix", "evaluate", "local", "branches")
# The fields of Woodpecker 3.x's constraint.Constraint (pipeline/frontend/yaml/constraint/
# constraint.go); 3.x ignores the others (`environment`, `target`, `branches`, `paths`...).
WOODPECKER_FIELDS = (
    "ref",
    "repo",
    "instance",
    "platform",
    "branch",
    "cron",
    "status",
    "matrix",
    "local",
    "path",
    "evaluate",
    "event",
)
STATUSES = ("success", "failure")
# An ``evaluate`` that names one of these variables selects by the build's deploy target.
DEPLOY_TARGET_VARIABLE = re.compile(r"\b(CI_PIPELINE_DEPLOY_TARGET|DRONE_DEPLOY_TO)\b")
# Event names of the three dialects that mean the same build event.
EVENT_ALIASES = {
    "promote": {"promote", "deployment", "deploy"},
    "custom": {"custom", "manual", "api"},
    "tag": {"tag", "release"},
    "pull_request": {"pull_request", "pull-request", "pr"},
}


@dataclass
class Constraint:
    """One field: match when no exclude pattern matches and (no include, or one matches)."""

    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    # Woodpecker's `path` options: match anyway when the commit message contains this text,
    # and the answer for a commit that changes no file.
    ignore_message: str = ""
    on_empty: bool = True

    def match(self, value: str) -> bool:
        if any(glob_match(value, p) for p in self.exclude):
            return False
        return not self.include or any(glob_match(value, p) for p in self.include)

    def match_any(self, values: list[str], message: str = "") -> bool:
        """For ``paths``: true when one changed file is included and not excluded."""
        if self.ignore_message and self.ignore_message.lower() in message.lower():
            return True
        if not values:
            return self.on_empty
        if not self.include and not self.exclude:
            return True
        return any(self.match(v) for v in values)

    @property
    def empty(self) -> bool:
        return not self.include and not self.exclude


@dataclass
class Constraints:
    """One constraint map; its fields are AND-ed."""

    fields: dict[str, Constraint] = field(default_factory=dict)
    matrix: dict[str, str] = field(default_factory=dict)
    evaluate: str = ""
    line: int = 0
    file: str = ""
    path: str = ""
    evaluate_line: int = 0

    def match(
        self,
        ctx: BuildContext,
        env: dict[str, str],
        *,
        matrix: dict[str, str] | None = None,
        dialect: str = "drone",
    ) -> bool:
        """True when every field but ``status`` matches the build."""
        for name, constraint in self.fields.items():
            if name == "status" or constraint.empty:
                continue
            if not _field_match(name, constraint, ctx, dialect):
                return False
        for key, want in self.matrix.items():
            if (matrix or {}).get(key) != want:
                return False
        if self.evaluate:
            try:
                return evaluate(self.evaluate, env)
            except ExpressionError as exc:
                # Woodpecker's Constraint.Match returns the error and the pipeline fails to
                # compile: neither "true" nor "false" would be what the user wrote.
                raise PipelineError(
                    f"{self.path}.evaluate: {exc}", file=self.file, line=self.evaluate_line
                ) from None
        return True

    def targets(
        self,
        ctx: BuildContext,
        env: dict[str, str],
        *,
        matrix: dict[str, str] | None = None,
        dialect: str = "drone",
    ) -> bool:
        """True when this map selects the build *because of* its deploy target: it matches,
        and a ``target``/``environment`` field includes ``ctx.target`` (an exclude-only field
        names no environment), or its ``evaluate`` reads ``CI_PIPELINE_DEPLOY_TARGET`` or
        ``DRONE_DEPLOY_TO``."""
        if not ctx.target or not self.match(ctx, env, matrix=matrix, dialect=dialect):
            return False
        for name in ("target", "environment"):
            constraint = self.fields.get(name)
            if constraint is not None and constraint.include and constraint.match(ctx.target):
                return True
        return bool(DEPLOY_TARGET_VARIABLE.search(self.evaluate))

    def mismatch(
        self,
        ctx: BuildContext,
        env: dict[str, str],
        *,
        matrix: dict[str, str] | None = None,
        dialect: str = "drone",
    ) -> str:
        """Why ``match`` is false for the build, naming the first field that refuses it
        (``branch: main is not release/*``); "" when it matches."""
        for name, constraint in self.fields.items():
            if name == "status" or constraint.empty:
                continue
            if not _field_match(name, constraint, ctx, dialect):
                return f"{name}: {_build_value(name, ctx, dialect)} is not {_wanted(constraint)}"
        for key, want in self.matrix.items():
            if (matrix or {}).get(key) != want:
                return f"matrix: {key}={(matrix or {}).get(key, '')} is not {want}"
        if not self.match(ctx, env, matrix=matrix, dialect=dialect):
            return f"evaluate: {self.evaluate} is false"
        return ""


def _build_value(name: str, ctx: BuildContext, dialect: str) -> str:
    """The build's value a condition field is matched against, as a person reads it."""
    if name in ("branch", "branches"):
        return ctx.tag if ctx.event == "tag" and dialect == "drone" else ctx.branch
    if name in ("paths", "path"):
        return "no changed file" if not ctx.changed_files else ", ".join(ctx.changed_files[:5])
    values = {"event": ctx.event, "ref": build_ref(ctx), "target": ctx.target}
    values.update(environment=ctx.target, cron=ctx.cron, instance=ctx.instance, repo=ctx.repo)
    return values.get(name, ctx.action) or '""'


def _wanted(constraint: Constraint) -> str:
    parts = []
    if constraint.include:
        parts.append(" or ".join(constraint.include))
    if constraint.exclude:
        parts.append("excluded: " + ", ".join(constraint.exclude))
    return "; ".join(parts) if len(parts) < 2 else f"{parts[0]} ({parts[1]})"


def _field_match(name: str, constraint: Constraint, ctx: BuildContext, dialect: str) -> bool:
    if name in ("branch", "branches"):
        if ctx.event == "tag":
            if dialect != "drone":
                return True  # Woodpecker and Drone 0.8 leave the branch filter out for tags
            return constraint.match(ctx.tag)  # Drone 1.x matches the tag name (its "target")
        branch = ctx.target_branch if ctx.event == "pull_request" and ctx.target_branch else ""
        return constraint.match(branch or ctx.branch)
    if name == "event":
        names = EVENT_ALIASES.get(ctx.event, {ctx.event})
        if any(any(glob_match(n, p) for p in constraint.exclude) for n in names):
            return False
        return not constraint.include or any(
            glob_match(n, p) for n in names for p in constraint.include
        )
    if name == "ref":
        return constraint.match(build_ref(ctx))
    if name in ("target", "environment"):
        return constraint.match(ctx.target)
    if name in ("paths", "path"):
        if ctx.changed_files is None:
            return True
        if dialect == "woodpecker" and ctx.event not in ("push", "pull_request"):
            return True  # Woodpecker applies path filters to pushes and pull requests only
        return constraint.match_any(ctx.changed_files, ctx.message)
    if name == "cron" and dialect == "woodpecker" and ctx.event != "cron":
        return True  # Woodpecker applies the cron filter to cron events only
    if name == "platform":
        return True  # the stage platform decides the agent, not whether a step runs
    value = {
        "cron": ctx.cron,
        "instance": ctx.instance,
        "repo": ctx.repo,
        "action": ctx.action,
    }.get(name)
    if value is None:
        return True
    return constraint.match(value)


def build_ref(ctx: BuildContext) -> str:
    """The git ref of the build, derived from the event when the context has none."""
    if ctx.ref:
        return ctx.ref
    if ctx.event == "tag" and ctx.tag:
        return f"refs/tags/{ctx.tag}"
    if ctx.event == "pull_request" and ctx.pull_request:
        return f"refs/pull/{ctx.pull_request}/head"
    return f"refs/heads/{ctx.branch}"


@dataclass
class When:
    """A whole condition: constraint maps OR-ed; no map means always."""

    items: list[Constraints] = field(default_factory=list)
    dialect: str = "drone"

    def matches(
        self, ctx: BuildContext, env: dict[str, str], matrix: dict[str, str] | None = None
    ) -> bool:
        """True when the build is one this condition selects (``status`` aside)."""
        if not self.items:
            return True
        return any(c.match(ctx, env, matrix=matrix, dialect=self.dialect) for c in self.items)

    def targets(
        self, ctx: BuildContext, env: dict[str, str], matrix: dict[str, str] | None = None
    ) -> bool:
        """True when a map of this condition selects the build for its deploy target
        (``Constraints.targets``): the step or pipeline is one that deploys to ``ctx.target``.
        A condition that does not name the target (or none at all) is false."""
        return any(c.targets(ctx, env, matrix=matrix, dialect=self.dialect) for c in self.items)

    def why_not(
        self, ctx: BuildContext, env: dict[str, str], matrix: dict[str, str] | None = None
    ) -> str:
        """Why no map of this condition selects the build: each map's ``mismatch``, joined
        with "; or " (Woodpecker's maps are OR-ed); "" when one selects it."""
        reasons = [c.mismatch(ctx, env, matrix=matrix, dialect=self.dialect) for c in self.items]
        return "" if not self.items or not all(reasons) else "; or ".join(reasons)

    def statuses(
        self, ctx: BuildContext, env: dict[str, str], matrix: dict[str, str] | None = None
    ) -> set[str]:
        """Statuses of the stage under which the selected maps let the step run."""
        out: set[str] = set()
        for item in self.items or [Constraints()]:
            if not item.match(ctx, env, matrix=matrix, dialect=self.dialect):
                continue
            status = item.fields.get("status")
            if status is None or status.empty:
                out.add("success")
                continue
            for s in STATUSES:
                if status.match(s):
                    out.add(s)
        return out


def parse_when(value: Any, path: str, line: int, issues: IssueList, dialect: str) -> When:
    """Read a ``when``/``trigger`` value, appending every problem to ``issues``."""
    when = When(dialect=dialect)
    if value is None:
        return when
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]" if isinstance(value, list) else path
        item_line = (
            getattr(value, "line_of", lambda _i: line)(index)
            if isinstance(value, list)
            else getattr(item, "line", line)
        )
        if not isinstance(item, dict):
            issues.error(
                item_line,
                item_path,
                "a condition must be a map of fields (branch, event, status...), "
                f"not {_kind(item)}",
            )
            continue
        when.items.append(
            _parse_constraints(
                item, item_path, item_line, issues, woodpecker=dialect == "woodpecker"
            )
        )
    return when


def _parse_constraints(
    item: dict[str, Any], path: str, line: int, issues: IssueList, *, woodpecker: bool = False
) -> Constraints:
    out = Constraints(line=getattr(item, "line", line), file=issues.file, path=path)
    for key, raw in item.items():
        if woodpecker and key in KNOWN_FIELDS and key not in WOODPECKER_FIELDS:
            continue  # Woodpecker 3.x ignores it: it does nothing here (woodpecker3 warns)
        key_line = item.line_of(key) if isinstance(item, YMap) else line
        key_path = f"{path}.{key}"
        if key == "matrix":
            if isinstance(raw, dict):
                out.matrix = {str(k): to_text(v) for k, v in raw.items()}
            else:
                issues.error(key_line, key_path, "when.matrix must be a map of axis: value")
            continue
        if key == "evaluate":
            out.evaluate = to_text(raw)
            out.evaluate_line = key_line
            if not out.evaluate:
                continue  # Woodpecker skips an empty evaluate (Constraint.Match)
            try:
                parse_expression(out.evaluate)
            except ExpressionTooComplex as exc:
                issues.error(key_line, key_path, f"{exc}; simplify it")
            except ExpressionError as exc:
                issues.error(key_line, key_path, f"{exc}: fix the expr-lang expression")
            continue
        if key == "local":
            continue
        if key not in KNOWN_FIELDS:
            issues.warning(key_line, key_path, unknown_message(key, KNOWN_FIELDS, "condition"))
            continue
        constraint = parse_constraint(raw, key_path, key_line, issues)
        if constraint is None:
            continue
        if key == "status":
            for s in constraint.include + constraint.exclude:
                if s not in STATUSES and s != "changed":
                    issues.error(
                        key_line, key_path, f'unknown status "{s}": use success or failure'
                    )
        out.fields["branch" if key == "branches" else key] = constraint
    return out


def parse_constraint(raw: Any, path: str, line: int, issues: IssueList) -> Constraint | None:
    """A scalar, a list, or an ``include``/``exclude`` map into a ``Constraint``."""
    if raw is None:
        return Constraint()
    if isinstance(raw, (str, int, float, bool)):
        return Constraint(include=[to_text(raw)])
    if isinstance(raw, list):
        values = _texts(raw, path, line, issues)
        return None if values is None else Constraint(include=values)
    if isinstance(raw, dict):
        out = Constraint()
        for key, value in raw.items():
            if key == "ignore_message":
                out.ignore_message = to_text(value)
                continue
            if key == "on_empty":
                out.on_empty = value not in (False, "false")
                continue
            if key not in ("include", "exclude"):
                issues.warning(
                    raw.line_of(key) if isinstance(raw, YMap) else line,
                    f"{path}.{key}",
                    unknown_message(key, ("include", "exclude"), "condition map"),
                )
                continue
            values = (
                [to_text(value)]
                if not isinstance(value, (list, dict))
                else _texts(value, f"{path}.{key}", line, issues)
            )
            if values is None:
                continue
            setattr(out, key, values)
        return out
    issues.error(line, path, f"expected a value, a list or include/exclude, not {_kind(raw)}")
    return None


def _texts(raw: Any, path: str, line: int, issues: IssueList) -> list[str] | None:
    if not isinstance(raw, list):
        issues.error(line, path, f"expected a list of values, not {_kind(raw)}")
        return None
    out = []
    for value in raw:
        if isinstance(value, (dict, list)):
            issues.error(line, path, f"expected plain values in the list, not {_kind(value)}")
            return None
        out.append(to_text(value))
    return out


def unknown_message(key: str, known: tuple[str, ...] | list[str], where: str) -> str:
    """``unknown key "x" (did you mean "y"?)`` with the closest known key, if any."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if not close and key.startswith(tuple(k[:5] for k in known if len(k) > 5)):
        close = [k for k in known if len(k) > 5 and key.startswith(k[:5])][:1]
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return f'unknown {where} key "{key}"{hint}; it is ignored'


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"the value {to_text(value)!r}"
