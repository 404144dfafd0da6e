"""Drone 1.x: one ``kind: pipeline`` document into a model ``Stage``."""

from __future__ import annotations

from typing import Any

from runner.pipeline import fields
from runner.pipeline.conditions import parse_when, unknown_message
from runner.pipeline.issues import IssueList
from runner.pipeline.model import DRONE, Stage
from runner.pipeline.steps import parse_step
from runner.pipeline.yamlload import to_text

PIPELINE_KEYS = (
    "kind",
    "type",
    "name",
    "platform",
    "node",
    "steps",
    "services",
    "trigger",
    "depends_on",
    "clone",
    "workspace",
    "volumes",
    "environment",
    "image_pull_secrets",
    "concurrency",
    "cache",
    "version",
    "labels",
    "node_selector",
    "tolerations",
    "service_account_name",
    "metadata",
    "dns_config",
    "host_aliases",
    "pool",
    "server",
    "token",
    "account",
    "instance",
    "inherit",
)
# Documents of other kinds are resources of the Drone server, not pipelines.
OTHER_KINDS = ("signature", "secret", "template", "cron", "secret_v2")


def parse_drone_document(
    doc: dict[str, Any], file: str, index: int, line: int, issues: IssueList
) -> Stage | None:
    """Read one document; None for a non-pipeline kind (``signature``, ``secret``)."""
    kind = to_text(doc.get("kind", "pipeline"))
    prefix = f"[{index}]" if index else ""
    if kind in OTHER_KINDS:
        return None
    name = fields.text(doc, "name", prefix, issues) or "default"
    stage = Stage(name=name, file=file, dialect=DRONE, line=line, path=prefix, kind=kind)
    stage.lines = dict(getattr(doc, "key_lines", {}))
    if kind != "pipeline":
        issues.warning(
            line, f"{prefix}kind", f'unknown kind "{kind}": only kind: pipeline is run; skipped'
        )
        return None
    dot = f"{prefix}." if prefix else ""
    for key in doc:
        if key not in PIPELINE_KEYS and not key.startswith(("x-", ".")):  # anchor holders
            issues.warning(
                fields.key_line(doc, key, line),
                f"{dot}{key}",
                f'pipeline "{name}": ' + unknown_message(key, PIPELINE_KEYS, "pipeline"),
            )
    stage.type = fields.text(doc, "type", prefix, issues, "docker") or "docker"
    platform = fields.mapping(doc, "platform", prefix, issues) or {}
    os_name = to_text(platform.get("os", "linux")) or "linux"
    arch = to_text(platform.get("arch", "amd64")) or "amd64"
    stage.platform = f"{os_name}/{arch}"
    node = fields.mapping(doc, "node", prefix, issues) or {}
    stage.labels = {str(k): to_text(v) for k, v in node.items()}
    stage.trigger = parse_when(
        doc.get("trigger"), f"{dot}trigger", fields.key_line(doc, "trigger", line), issues, DRONE
    )
    status = [c.fields["status"] for c in stage.trigger.items if "status" in c.fields]
    stage.run_policy_statuses = [s for c in status for s in c.include]
    stage.depends_on = fields.text_list(doc, "depends_on", prefix, issues) or []
    clone = fields.mapping(doc, "clone", prefix, issues) or {}
    stage.clone_disable = fields.boolean(clone, "disable", f"{dot}clone", issues)
    stage.clone_depth = fields.integer(clone, "depth", f"{dot}clone", issues)
    stage.clone_skip_verify = fields.boolean(clone, "skip_verify", f"{dot}clone", issues)
    stage.clone_tags = fields.boolean(clone, "tags", f"{dot}clone", issues)
    stage.clone_submodules = fields.boolean(clone, "submodules", f"{dot}clone", issues)
    workspace = fields.mapping(doc, "workspace", prefix, issues) or {}
    stage.workspace_base = to_text(workspace.get("base", ""))
    stage.workspace_path = to_text(workspace.get("path", ""))
    stage.volumes = _pipeline_volumes(doc, dot, issues)
    stage.environment = fields.environment(doc, "environment", prefix, issues)
    cache = doc.get("cache")
    if cache is not None:
        stage.cache = fields.text_list(doc, "cache", prefix, issues) or []
    stage.pull_secrets = fields.text_list(doc, "image_pull_secrets", prefix, issues) or []
    stage.steps = _steps(doc, "steps", dot, issues, name)
    stage.services = _steps(doc, "services", dot, issues, name)
    if not stage.steps and "steps" not in doc:
        issues.error(line, f"{dot}steps", f'pipeline "{name}" has no steps: add a steps: list')
    return stage


def _steps(doc: dict[str, Any], key: str, dot: str, issues: IssueList, pipeline: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    line = fields.key_line(doc, key)
    if not isinstance(value, list):
        issues.error(
            line,
            f"{dot}{key}",
            f'pipeline "{pipeline}": {key} must be a list of steps (- name: ...), '
            f"not {fields.kind_of(value)}",
        )
        return []
    out = []
    for index, raw in enumerate(value):
        path = f"{dot}{key}[{index}]"
        item_line = value.line_of(index) if hasattr(value, "line_of") else line
        name = to_text(raw.get("name", "")) if isinstance(raw, dict) else ""
        if isinstance(raw, dict) and not name:
            issues.error(item_line, path, f"{key[:-1]} {index + 1} has no name: add name: ...")
            name = f"{key[:-1]}-{index + 1}"
        step = parse_step(raw, name, path, item_line, issues, DRONE)
        if step is not None:
            out.append(step)
    return out


def _pipeline_volumes(
    doc: dict[str, Any], dot: str, issues: IssueList
) -> dict[str, dict[str, Any]]:
    value = doc.get("volumes")
    out: dict[str, dict[str, Any]] = {}
    if value is None:
        return out
    line = fields.key_line(doc, "volumes")
    if not isinstance(value, list):
        issues.error(line, f"{dot}volumes", "volumes must be a list of {name, temp|host}")
        return out
    for index, item in enumerate(value):
        item_line = value.line_of(index) if hasattr(value, "line_of") else line
        path = f"{dot}volumes[{index}]"
        if not isinstance(item, dict) or not item.get("name"):
            issues.error(item_line, path, "a volume needs a name and temp: {} or host: {path}")
            continue
        name = to_text(item["name"])
        host = item.get("host")
        if isinstance(host, dict) and host.get("path"):
            out[name] = {"host": to_text(host["path"]), "line": item_line}
        elif "temp" in item or "host" not in item:
            out[name] = {"temp": True, "line": item_line}
        else:
            issues.error(item_line, f"{path}.host", "a host volume needs host: {path: /...}")
    return out
