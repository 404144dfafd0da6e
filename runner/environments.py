"""Deploy environments: which environment a build targets, and the pipeline file's declaration.

Pure (no I/O, no store): the triggerer and the API call it with environments they loaded.

- ``decide_target(environments, event=, branch=, tag=, requested=)`` picks the build's
  environment: the requested one for promote/rollback, else the first (by position) whose
  branch/tag/event patterns the build falls into. Pull requests never deploy unless an
  environment lists ``pull_request`` in its events.
- ``extract_declarations(files)`` finds a top-level ``environments:`` key in the pipeline
  file(s), validates it, and returns the files with that key blanked out (line numbers kept) so
  the pipeline readers never see it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from runner.approval_rules import MAX_APPROVALS
from runner.errors import PipelineError
from runner.globs import matches_any
from runner.labels import parse_labels
from runner.pipeline.issues import ERROR, Issue

# Events an environment with no ``events:`` list accepts. Pull requests run untrusted changes,
# so they deploy only where an environment names them explicitly.
DEFAULT_EVENTS = ("push", "tag", "custom", "cron", "promote", "rollback")
KNOWN_EVENTS = DEFAULT_EVENTS + ("pull_request",)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
FIELDS = {
    "branches": "branch globs, e.g. [main, release/*]",
    "tags": "tag globs, e.g. [v*]",
    "events": "events, e.g. [push, tag, promote]",
    "labels": "agent labels, e.g. {env: production}",
    "approval": "true when a person must approve",
    "lock": "true for one deploy at a time",
    "four_eyes": "true when the approver must not be who pushed, started or promoted the build",
    "approvals_required": "a number of distinct approvers, 1 to 10",
    "rollback_exempt": "true when a rollback deploys without approval",
}
ALIASES = {"branch": "branches", "tag": "tags", "event": "events", "approval_required": "approval"}

# Declared environments sort after stored ones: what an admin set through the API comes first.
DECLARED_POSITION = 1000

_KEY_LINE = re.compile(r"^environments\s*:")
_TOP_LEVEL = re.compile(r"^[^\s#-]")


@dataclass
class EnvironmentDecl:
    """One environment as a pipeline file or an API call describes it (not stored yet)."""

    name: str
    branches: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    approval_required: bool = False
    lock: bool = False
    position: int = 0
    four_eyes: bool = False
    approvals_required: int = 1
    rollback_exempt: bool = False

    def store_fields(self) -> dict[str, Any]:
        """The keyword arguments of ``EnvironmentStore.create`` for this declaration."""
        return {
            "branches": list(self.branches),
            "tags": list(self.tags),
            "events": list(self.events),
            "labels": dict(self.labels),
            "approval_required": self.approval_required,
            "lock": self.lock,
            "position": self.position,
            "four_eyes": self.four_eyes,
            "approvals_required": self.approvals_required,
            "rollback_exempt": self.rollback_exempt,
        }


def environment_applies(env: Any, *, event: str, branch: str = "", tag: str = "") -> bool:
    """Whether a build of ``event`` on ``branch`` / ``tag`` deploys to ``env``.

    ``env`` is any object with ``events``, ``branches`` and ``tags`` lists (a stored
    ``Environment`` or an ``EnvironmentDecl``). Events: the listed ones, or ``DEFAULT_EVENTS``.
    Patterns are ``runner.globs`` doublestar globs, as in ``when: branch``: ``release/*``
    takes ``release/2`` but not ``release/2/hotfix`` (``release/**`` takes both).
    A tag build is judged by ``tags`` (an environment without tag patterns takes no tag
    builds); any other build by ``branches`` (an environment with only tag patterns takes no
    branch builds; one with no patterns at all takes every branch).
    """
    if event not in (env.events or DEFAULT_EVENTS):
        return False
    if tag or event == "tag":
        return bool(env.tags) and matches_any(tag, env.tags)
    if env.branches:
        return matches_any(branch, env.branches)
    return not env.tags


def decide_target(
    environments: list[Any], *, event: str, branch: str = "", tag: str = "", requested: str = ""
) -> Any:
    """The environment a build deploys to, or None.

    ``requested`` (promote, rollback, a manual build with a target) names it directly and is
    returned whatever the patterns say; None when no environment has that name. Otherwise the
    first environment, by ``position`` then list order, that ``environment_applies`` to.
    """
    ordered = sorted(environments, key=lambda e: getattr(e, "position", 0))
    if requested:
        return next((e for e in ordered if e.name == requested), None)
    for env in ordered:
        if environment_applies(env, event=event, branch=branch, tag=tag):
            return env
    return None


# The pipeline file's declaration ------------------------------------------------------------


def extract_declarations(files: dict[str, str]) -> tuple[dict[str, str], list[EnvironmentDecl]]:
    """Split the ``environments:`` declarations off pipeline files.

    Returns the files with every top-level ``environments:`` key replaced by blank lines (so
    the pipeline readers see the rest at its original line numbers) and the declared
    environments in file order. Raises ``PipelineError`` with every problem (unknown field,
    wrong type, bad name, a name declared twice) and its file and line.
    """
    stripped: dict[str, str] = {}
    declared: list[EnvironmentDecl] = []
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    for name, text in files.items():
        new_text, blocks = _strip(text)
        stripped[name] = new_text
        for line, block in blocks:
            try:
                data = yaml.safe_load(block)
            except yaml.YAMLError as exc:
                issues.append(Issue(name, line, "environments", f"not valid YAML: {exc}"))
                continue
            value = (data or {}).get("environments") if isinstance(data, dict) else None
            for decl in parse_declaration(value, file=name, line=line, issues=issues):
                if decl.name in seen:
                    issues.append(
                        Issue(
                            name,
                            line,
                            f"environments.{decl.name}",
                            f"declared twice (also in {seen[decl.name]}): keep one",
                        )
                    )
                    continue
                seen[decl.name] = name
                decl.position = DECLARED_POSITION + len(declared)
                declared.append(decl)
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more problems)" if len(issues) > 1 else ""
        raise PipelineError(
            f"{first.path}: {first.message}{more}", file=first.file, line=first.line, issues=issues
        )
    return stripped, declared


def _strip(text: str) -> tuple[str, list[tuple[int, str]]]:
    """The text without top-level ``environments:`` blocks, and each block (1-based line)."""
    lines = text.splitlines(keepends=True)
    blocks: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        if not _KEY_LINE.match(lines[i]):
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines):
            line = lines[i]
            if line.startswith(("---", "...")) or _TOP_LEVEL.match(line):
                break
            i += 1
        while i > start + 1 and not lines[i - 1].strip():
            i -= 1  # trailing blank lines stay with what follows
        blocks.append((start + 1, "".join(lines[start:i])))
        for j in range(start, i):
            lines[j] = "\n" if lines[j].endswith("\n") else ""
    return "".join(lines), blocks


def parse_declaration(
    value: Any, *, file: str = "", line: int = 0, issues: list[Issue] | None = None
) -> list[EnvironmentDecl]:
    """Validate an ``environments:`` value (a mapping of name → fields, or a list of them).

    Problems are appended to ``issues`` when given; without it the first one raises
    ``PipelineError``. Returns the well-formed environments.
    """
    collect: list[Issue] = [] if issues is None else issues
    before = len(collect)

    def bad(path: str, message: str) -> None:
        collect.append(Issue(file, line, path, message, ERROR))

    entries: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        entries = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, dict) or not item.get("name"):
                bad(f"environments[{index}]", "each environment needs a name: `- name: staging`")
                continue
            rest = {k: v for k, v in item.items() if k != "name"}
            entries.append((str(item["name"]), rest))
    else:
        bad("environments", "expected a mapping of environment names to their settings")
    out = []
    for name, fields in entries:
        decl = _one(name, fields, bad)
        if decl is not None:
            out.append(decl)
    if issues is None and len(collect) > before:
        first = collect[before]
        raise PipelineError(f"{first.path}: {first.message}", file=file, line=line, issues=collect)
    return out


def _one(name: str, fields: Any, bad: Callable[[str, str], None]) -> EnvironmentDecl | None:
    path = f"environments.{name}"
    if not NAME_RE.match(name):
        bad(path, "a name is letters, digits, '-', '_' or '.', at most 63 characters")
        return None
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        bad(path, "expected a mapping of settings (branches, tags, events, labels, ...)")
        return None
    decl = EnvironmentDecl(name=name)
    ok = True
    for key, raw in fields.items():
        key = str(key)
        field_name = ALIASES.get(key, key)
        if field_name not in FIELDS:
            hint = difflib.get_close_matches(key, list(FIELDS) + list(ALIASES), n=1)
            tip = f' (did you mean "{hint[0]}"?)' if hint else f"; use {', '.join(FIELDS)}"
            bad(f"{path}.{key}", f'unknown key "{key}"{tip}')
            ok = False
            continue
        try:
            _set(decl, field_name, raw)
        except ValueError as exc:
            bad(f"{path}.{key}", f"{exc}; expected {FIELDS[field_name]}")
            ok = False
    return decl if ok else None


def _set(decl: EnvironmentDecl, name: str, raw: Any) -> None:
    if name in ("branches", "tags", "events"):
        values = _strings(raw)
        if name == "events":
            unknown = [v for v in values if v not in KNOWN_EVENTS]
            if unknown:
                raise ValueError(f"unknown event {unknown[0]!r}")
        setattr(decl, name, values)
    elif name == "labels":
        decl.labels = parse_labels(raw)
    elif name == "approval":
        decl.approval_required = _flag(raw)
    elif name == "approvals_required":
        decl.approvals_required = _count(raw)
    elif name in ("four_eyes", "rollback_exempt"):
        setattr(decl, name, _flag(raw))
    else:
        decl.lock = _flag(raw)


def _strings(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(v, str | int | float) for v in raw):
        return [str(v) for v in raw]
    raise ValueError("not a string or a list of strings")


def _count(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= MAX_APPROVALS:
        return raw
    raise ValueError(f"not a whole number from 1 to {MAX_APPROVALS}: {raw!r}")


def _flag(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    raise ValueError(f"not true or false: {raw!r}")
