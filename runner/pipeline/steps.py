"""Reading one step or service (any dialect) into the model's ``Step``."""

from __future__ import annotations

from typing import Any

from runner.pipeline import fields
from runner.pipeline.conditions import parse_when, unknown_message
from runner.pipeline.issues import IssueList
from runner.pipeline.model import DRONE, DRONE08, Step, Volume
from runner.pipeline.yamlload import YMap, to_text

COMMON_KEYS = (
    "name",
    "image",
    "pull",
    "commands",
    "command",
    "entrypoint",
    "environment",
    "settings",
    "when",
    "depends_on",
    "detach",
    "failure",
    "privileged",
    "volumes",
    "network_mode",
    "user",
    "shm_size",
    "dns",
    "dns_search",
    "extra_hosts",
    "devices",
    "working_dir",
    "ports",
    "cache",
    "secrets",
    "group",
    "resources",
    "cpu_quota",
    "cpu_shares",
    "cpu_set",
    "mem_limit",
    "memswap_limit",
    "tmpfs",
    "directory",
    "backend_options",
    "ulimits",
    "networks",
    "image_pull_secrets",
    "failure_ignore",
    "labels",
    "hostname",
)
# Keys read but not used by the Docker engine; they never produce a warning.
INERT_KEYS = {
    "resources",
    "cpu_quota",
    "cpu_shares",
    "cpu_set",
    "mem_limit",
    "memswap_limit",
    "tmpfs",
    "devices",
    "dns_search",
    "backend_options",
    "ulimits",
    "networks",
    "image_pull_secrets",
    "labels",
    "hostname",
}
STEP_KEYS_HINT = tuple(k for k in COMMON_KEYS if k not in INERT_KEYS)
# Keys that Drone 0.8's container had no field for, so they were plugin settings there
# (cncd/pipeline frontend/yaml/container.go: unknown keys land in ``Vargs``, which
# compiler/convert.go ``createProcess`` exports as PLUGIN_* for every step that is not
# detached): ``user: deploy`` is PLUGIN_USER, never the container's user.
DRONE08_SETTING_KEYS = frozenset({"user"})
# Step keys users sometimes put under `environment:` by mistake.
MISPLACED_ENV_KEYS = {"privileged", "detach", "image", "commands", "volumes", "network_mode"}


def parse_step(
    raw: Any,
    name: str,
    path: str,
    line: int,
    issues: IssueList,
    dialect: str,
    *,
    unknown_as_settings: bool = False,
) -> Step | None:
    """Read one step map. With ``unknown_as_settings`` (Drone 0.8, legacy Woodpecker) keys
    that are not step keys are plugin settings; otherwise they are warned about."""
    if not isinstance(raw, dict):
        issues.error(line, path, f"a step must be a map of keys, not {fields.kind_of(raw)}")
        return None
    line = line or getattr(raw, "line", 0)
    step = Step(name=name, path=path, line=line)
    step.lines = dict(raw.key_lines) if isinstance(raw, YMap) else {}
    settings: dict[str, Any] = {}
    as_settings = DRONE08_SETTING_KEYS if dialect == DRONE08 else frozenset()
    for key in raw:
        if key in COMMON_KEYS and key not in as_settings:
            continue
        if unknown_as_settings:
            settings[key] = raw[key]
            continue
        issues.warning(
            fields.key_line(raw, key, line),
            f"{path}.{key}",
            f'step "{name}": ' + unknown_message(key, STEP_KEYS_HINT, "step"),
        )
    step.image = fields.text(raw, "image", path, issues)
    step.pull = _pull(raw, path, issues)
    commands = raw.get("commands")
    if isinstance(commands, str):
        step.commands = [commands]
    else:
        step.commands = fields.text_list(raw, "commands", path, issues) or []
    step.entrypoint = fields.text_list(raw, "entrypoint", path, issues, split=True)
    step.command = fields.text_list(raw, "command", path, issues, split=True)
    step.environment = fields.environment(raw, "environment", path, issues)
    for env_name in step.environment:
        if env_name.lower() in MISPLACED_ENV_KEYS:
            issues.warning(
                fields.key_line(raw.get("environment"), env_name, line),
                f"{path}.environment.{env_name}",
                f'step "{name}": "{env_name}" under environment only sets a variable; '
                f"to use the step key, move it one level up",
            )
    step.secrets = _secrets(raw, path, issues)
    declared = fields.mapping(raw, "settings", path, issues) or {}
    step.settings = {**settings, **declared}
    step.when = parse_when(
        raw.get("when"), f"{path}.when", fields.key_line(raw, "when", line), issues, dialect
    )
    step.depends_on = fields.text_list(raw, "depends_on", path, issues)
    step.group = fields.text(raw, "group", path, issues)
    step.detach = fields.boolean(raw, "detach", path, issues)
    step.privileged = fields.boolean(raw, "privileged", path, issues)
    failure = fields.text(raw, "failure", path, issues)
    if failure and failure not in ("ignore", "fail", "always"):
        issues.error(
            fields.key_line(raw, "failure", line),
            f"{path}.failure",
            f'unknown failure policy "{failure}": use "ignore" or "fail"',
        )
    step.failure_ignored = failure == "ignore" or fields.boolean(
        raw, "failure_ignore", path, issues
    )
    step.volumes = _volumes(raw, path, issues, dialect)
    step.cache = _cache(raw, path, issues)
    step.network_mode = fields.text(raw, "network_mode", path, issues)
    step.user = "" if "user" in as_settings else fields.text(raw, "user", path, issues)
    step.working_dir = fields.text(raw, "working_dir", path, issues) or fields.text(
        raw, "directory", path, issues
    )
    step.shm_size = _size(raw, path, issues)
    step.dns = fields.text_list(raw, "dns", path, issues) or []
    step.extra_hosts = fields.text_list(raw, "extra_hosts", path, issues) or []
    step.ports = [to_text(p) for p in _ports(raw, path, issues)]
    return step


def _pull(raw: dict[str, Any], path: str, issues: IssueList) -> str:
    value = raw.get("pull")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "always" if value else "if-not-exists"
    text = to_text(value)
    if text in ("always", "never", "if-not-exists", "default"):
        return "if-not-exists" if text == "default" else text
    issues.error(
        fields.key_line(raw, "pull"),
        f"{path}.pull",
        f'unknown pull policy "{text}": use always, never or if-not-exists',
    )
    return ""


def _secrets(raw: dict[str, Any], path: str, issues: IssueList) -> list[tuple[str, str]]:
    value = raw.get("secrets")
    if value is None:
        return []
    line = fields.key_line(raw, "secrets")
    items = value if isinstance(value, list) else [value]
    out = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            source = to_text(item.get("source", ""))
            target = to_text(item.get("target", source))
            if not source:
                issues.error(line, f"{path}.secrets[{index}]", "a secret map needs a source")
                continue
            out.append((target.upper(), source))
        elif isinstance(item, list):
            issues.error(line, f"{path}.secrets[{index}]", "a secret must be a name")
        else:
            out.append((to_text(item).upper(), to_text(item)))
    return out


def _volumes(raw: dict[str, Any], path: str, issues: IssueList, dialect: str) -> list[Volume]:
    value = raw.get("volumes")
    if value is None:
        return []
    line = fields.key_line(raw, "volumes")
    if not isinstance(value, list):
        issues.error(line, f"{path}.volumes", f"expected a list, not {fields.kind_of(value)}")
        return []
    out = []
    for index, item in enumerate(value):
        item_line = value.line_of(index) if hasattr(value, "line_of") else line
        item_path = f"{path}.volumes[{index}]"
        if isinstance(item, dict):
            name = to_text(item.get("name", ""))
            target = to_text(item.get("path", ""))
            if not name or not target:
                issues.error(item_line, item_path, "a step volume needs a name and a path")
                continue
            out.append(Volume(name, target, item_line))
            continue
        parts = to_text(item).split(":")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            issues.error(
                item_line,
                item_path,
                'a volume must be {name, path} or "source:/path[:ro]"',
            )
            continue
        out.append(Volume(parts[0], parts[1], item_line, read_only="ro" in parts[2:]))
    if dialect == DRONE and any(isinstance(v, str) for v in value):
        issues.warning(line, f"{path}.volumes", "Drone 1.x volumes are {name, path} maps")
    return out


def _cache(raw: dict[str, Any], path: str, issues: IssueList) -> list[str]:
    value = raw.get("cache")
    if value is None:
        return []
    if isinstance(value, dict):
        return fields.text_list(value, "paths", f"{path}.cache", issues) or []
    return fields.text_list(raw, "cache", path, issues) or []


def _size(raw: dict[str, Any], path: str, issues: IssueList) -> int:
    value = raw.get("shm_size")
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    text = to_text(value).strip().lower()
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "b": 1}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        issues.error(
            fields.key_line(raw, "shm_size"), f"{path}.shm_size", "expected a size like 64m"
        )
        return 0


def _ports(raw: dict[str, Any], path: str, issues: IssueList) -> list[Any]:
    value = raw.get("ports")
    if value is None:
        return []
    if isinstance(value, list):
        return [to_text(p.get("port", "")) if isinstance(p, dict) else to_text(p) for p in value]
    return [to_text(value)]
