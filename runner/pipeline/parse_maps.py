"""Drone 0.8 files and Woodpecker workflows (steps as a list or a map) into a model ``Stage``.

Both dialects share the shape: named steps, ``group``, ``secrets``, ``matrix``, a ``clone``
section naming a git plugin (its depth/tags/recursive settings become the stage's clone
options; the agent clones itself). In Drone 0.8 and legacy Woodpecker ``pipeline:`` files,
step keys that are not step keys are plugin settings.
"""

from __future__ import annotations

from typing import Any

from runner.pipeline import fields
from runner.pipeline.conditions import Constraints, parse_constraint, parse_when, unknown_message
from runner.pipeline.issues import IssueList
from runner.pipeline.model import DRONE08, WOODPECKER, Stage, Step
from runner.pipeline.steps import parse_step
from runner.pipeline.woodpecker3 import check_removed_keys, drop_removed_keys
from runner.pipeline.yamlload import YMap, map_entries, to_text

DRONE08_KEYS = (
    "pipeline",
    "services",
    "matrix",
    "branches",
    "workspace",
    "clone",
    "volumes",
    "networks",
    "labels",
    "platform",
    "secrets",
    "when",
)
WOODPECKER_KEYS = (
    "steps",
    "pipeline",
    "services",
    "when",
    "depends_on",
    "runs_on",
    "labels",
    "platform",
    "matrix",
    "variables",
    "clone",
    "skip_clone",
    "workspace",
    "branches",
    "version",
    "cache",
)


def parse_map_document(
    doc: dict[str, Any], file: str, name: str, line: int, issues: IssueList, dialect: str
) -> Stage:
    """Read a 0.8 file or a Woodpecker workflow into one stage named ``name``."""
    stage = Stage(name=name, file=file, dialect=dialect, line=line)
    stage.lines = dict(getattr(doc, "key_lines", {}))
    known = DRONE08_KEYS if dialect == DRONE08 else WOODPECKER_KEYS
    for key in doc:
        if key not in known and not key.startswith(("x-", ".")):
            issues.warning(
                fields.key_line(doc, key, line), key, unknown_message(key, known, "top-level")
            )
    legacy = dialect == DRONE08 or ("pipeline" in doc and "steps" not in doc)
    stage.legacy = legacy
    key = "steps" if "steps" in doc else "pipeline"
    if key not in doc:
        issues.error(line, "steps", "no steps: add a steps: section")
    stage.steps = _step_collection(doc, key, issues, dialect, legacy)
    stage.services = _step_collection(doc, "services", issues, dialect, legacy)
    if key in doc and not stage.steps and not stage.services and not _reported(issues, key):
        issues.error(fields.key_line(doc, key, line), key, f"{key} is empty: add at least one step")
    stage.trigger = parse_when(
        doc.get("when"), "when", fields.key_line(doc, "when"), issues, dialect
    )
    if dialect == WOODPECKER:
        check_removed_keys(doc, issues, line)
    branches = doc.get("branches") if dialect != WOODPECKER else None
    if branches is not None:
        constraint = parse_constraint(
            branches, "branches", fields.key_line(doc, "branches"), issues
        )
        if constraint is not None:
            items = stage.trigger.items or [Constraints(line=fields.key_line(doc, "branches"))]
            for item in items:
                item.fields.setdefault("branch", constraint)
            stage.trigger.items = items
    stage.depends_on = fields.text_list(doc, "depends_on", "", issues) or []
    stage.run_policy_statuses = fields.text_list(doc, "runs_on", "", issues) or []
    labels = fields.mapping(doc, "labels", "", issues) or {}
    stage.labels = {str(k): to_text(v) for k, v in labels.items()}
    platform = "" if dialect == WOODPECKER else fields.text(doc, "platform", "", issues)
    platform = platform or stage.labels.get("platform", "")
    stage.platform = platform or "linux/amd64"
    workspace = fields.mapping(doc, "workspace", "", issues) or {}
    stage.workspace_base = to_text(workspace.get("base", ""))
    stage.workspace_path = to_text(workspace.get("path", ""))
    skip_clone = fields.boolean(doc, "skip_clone", "", issues)
    stage.clone_disable = skip_clone
    own_clone = _clone_section(doc, stage, issues)
    cache = doc.get("cache")
    if cache is not None:
        stage.cache = fields.text_list(doc, "cache", "", issues) or []
    clone_step = next((s for s in stage.steps if s.name == "clone" and _is_git(s)), None)
    if clone_step is not None:  # 0.8: a `clone` step in the pipeline replaces the clone
        _clone_options(clone_step.settings, stage, issues, clone_step.path)
        stage.steps.remove(clone_step)
    if own_clone and not skip_clone:
        stage.steps = own_clone + stage.steps
        stage.clone_steps = [step.name for step in own_clone]
    if dialect == WOODPECKER:
        drop_removed_keys(stage)
    return stage


def _reported(issues: IssueList, path: str) -> bool:
    """True when an issue was already reported at ``path`` or below it."""
    return any(i.path == path or i.path.startswith((path + ".", path + "[")) for i in issues)


def _step_collection(
    doc: dict[str, Any], key: str, issues: IssueList, dialect: str, legacy: bool
) -> list[Step]:
    value = doc.get(key)
    if value is None:
        return []
    line = fields.key_line(doc, key)
    out = []
    if isinstance(value, dict):
        entries = map_entries(value, line)
        names = [_entry_name(name, raw, dialect) for name, raw, _ in entries]
        taken: set[str] = set()
        for (key_name, raw, item_line), name in zip(entries, names, strict=True):
            step = parse_step(
                raw,
                _distinct_name(name, taken, names),
                f"{key}.{key_name}",
                item_line or line,
                issues,
                dialect,
                unknown_as_settings=legacy,
            )
            if step is not None:
                out.append(step)
        return out
    if isinstance(value, list) and dialect == WOODPECKER:
        for index, raw in enumerate(value):
            item_line = value.line_of(index) if hasattr(value, "line_of") else line
            path = f"{key}[{index}]"
            name = to_text(raw.get("name", "")) if isinstance(raw, dict) else ""
            if isinstance(raw, dict) and not name:
                issues.error(item_line, path, f"{key} item {index + 1} has no name: add name: ...")
                name = f"{key}-{index + 1}"
            step = parse_step(raw, name, path, item_line, issues, dialect)
            if step is not None:
                out.append(step)
        return out
    if value == [] or value == {}:
        return out
    issues.error(
        line,
        key,
        f"{key} must be a map of named steps"
        + (" or a list of steps" if dialect == WOODPECKER else "")
        + f", not {fields.kind_of(value)}",
    )
    return out


def _entry_name(key: str, raw: Any, dialect: str) -> str:
    """A map entry's step name: Woodpecker lets ``name:`` override the key."""
    if isinstance(raw, dict) and raw.get("name") and dialect == WOODPECKER:
        return to_text(raw["name"])
    return key


def _distinct_name(name: str, taken: set[str], written: list[str]) -> str:
    """``name``, or for a step key written again ``name-2`` (``-3``...): both steps run, as in
    Drone 0.8 and Woodpecker, and the model needs one name per step (the log, the UI and
    ``depends_on`` use it). A suffix never takes a name another step was given in the file."""
    out, number = name, 1
    while out in taken:
        number += 1
        out = f"{name}-{number}"
        if out in written:
            out = name  # that name is another step's: try the next number
    taken.add(out)
    return out


def _is_git(step: Step) -> bool:
    return not step.commands and ("git" in step.image or not step.image)


# Git clone plugins whose job the built-in clone does: Woodpecker's default clone plugin
# (shared/constant/constant.go: DefaultClonePlugin, TrustedClonePlugins) and Drone's.
CLONE_PLUGINS = ("woodpeckerci/plugin-git", "plugins/git", "drone/git")


def is_clone_plugin(image: str) -> bool:
    """True for a git clone plugin image, whatever its registry, tag or digest."""
    ref = image.split("@", 1)[0]
    if ":" in ref.rsplit("/", 1)[-1]:
        ref = ref.rsplit(":", 1)[0]
    parts = ref.split("/")
    if len(parts) > 2 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts) in CLONE_PLUGINS


def _clone_section(doc: dict[str, Any], stage: Stage, issues: IssueList) -> list[Step]:
    """Read ``clone:``; return the steps of the user's own that replace the built-in clone.

    An entry naming a git clone plugin (or no image) sets the built-in clone's options. Any
    other entry, or one with ``commands`` or ``entrypoint``, is the user's clone step: as in
    Woodpecker (pipeline/frontend/yaml/compiler/compiler.go, ``Compile``: the default clone
    step is added only when ``clone:`` is empty, else every ``clone:`` container runs in its
    place, in order, before the services and steps), it runs instead of the built-in clone.
    """
    clone = doc.get("clone")
    if clone is None:
        return []
    line = fields.key_line(doc, "clone")
    if isinstance(clone, list):
        entries = [
            (to_text(raw.get("name", "")) if isinstance(raw, dict) else "", raw, f"clone[{i}]")
            for i, raw in enumerate(clone)
        ]
    elif isinstance(clone, dict):
        if "disable" in clone or "depth" in clone:  # Drone 1.x form used in a 0.8 file
            stage.clone_disable = fields.boolean(clone, "disable", "clone", issues)
            stage.clone_depth = fields.integer(clone, "depth", "clone", issues)
            return []
        entries = [(str(name), raw, f"clone.{name}") for name, raw in clone.items()]
    else:
        issues.error(line, "clone", "clone must be a map or a list of clone steps")
        return []
    own: list[Step] = []
    plugin = False
    for name, raw, path in entries:
        if not isinstance(raw, dict):
            continue
        entry_line = getattr(raw, "line", line)
        image = to_text(raw.get("image") or "")
        if raw.get("commands") or raw.get("entrypoint") or (image and not is_clone_plugin(image)):
            step = parse_step(
                raw,
                name or "clone",
                path,
                entry_line,
                issues,
                stage.dialect,
                unknown_as_settings=stage.legacy,
            )
            if step is not None:
                own.append(step)
                issues.warning(
                    entry_line,
                    path,
                    f'clone step "{step.name}" replaces the built-in clone: it must fill the '
                    "workspace itself and gets no git credentials (as in Woodpecker, whose "
                    "netrc goes to its allow-listed clone plugins only)",
                )
            continue
        plugin = True
        # One map of the options and their settings that keeps each key's line for issues.
        options = YMap(entry_line)
        settings = raw.get("settings")
        for source in (raw, settings if isinstance(settings, dict) else {}):
            for key, value in source.items():
                if key != "settings":
                    options[key] = value
                    options.key_lines[key] = fields.key_line(source, key, options.line)
        _clone_options(options, stage, issues, path)
    if own and not plugin:
        stage.clone_disable = True
    return own


def _clone_options(options: dict[str, Any], stage: Stage, issues: IssueList, path: str) -> None:
    depth = options.get("depth")
    if depth is not None:
        stage.clone_depth = fields.integer(options, "depth", path, issues)
    for key in ("tags", "skip_verify"):
        if key in options:
            setattr(stage, f"clone_{key}", fields.boolean(options, key, path, issues))
    for key in ("recursive", "submodules", "submodule_update_remote"):
        if key in options and options[key] not in (None, False, "false"):
            stage.clone_submodules = bool(options[key])
