"""Secrets substituted into a Drone 0.8 file, without their values ever being in the spec.

Drone 0.5–0.8 replaced ``${NAME}`` of a secret in the file (``password: ${DOCKER_PASSWORD}``,
``environment: [X=${SECRET}]``) by its value when the secret allowed it (``drone secret add
--skip-verify``). Here the compiler never sees a value: ``${NAME}`` of such a secret becomes a
placeholder carrying a nonce made for this compilation (so no text of a commit, a branch or the
file can forge one), and after compiling, every environment variable of a step holding a
placeholder becomes a ``SecretRef`` whose ``parts`` alternate text and secret names, and in
commands it becomes ``${DRONE_SECRET_<NAME>}``, a variable the step gets with the secret (the
shell expands it where Drone 0.8 wrote the value into the script; inside single quotes it
stays unexpanded). The value is put together where secrets are resolved: the agent's
executor, from the secrets the server hands out for that step (event, image and pull request
filters included) or the ones given to ``runner exec``. The stored spec, the API and
``runner plan`` show names only, and the log masks each value as it masks every secret. A
placeholder anywhere else (image, volumes...) is refused: a value there would be in the spec.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets as random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PipelineError
from runner.pipeline.plugin_settings import fill_secret
from runner.pipeline.spec import SecretRef, StageSpec, StepSpec

# Brackets and dots only: a placeholder stays one plain scalar anywhere in YAML, even in a
# flow list, and survives the quoting of a value with a newline.
_OPEN, _CLOSE = "\u27e6", "\u27e7"


@dataclass
class Placeholders:
    """The placeholders of one compilation: ``by_name`` maps each name a file may write
    (as added, upper and lower case: secret names are case-insensitive) to its placeholder."""

    nonce: str = ""
    by_name: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_secrets(cls, names: Iterable[str]) -> Placeholders:
        """Fresh placeholders, with a new nonce, for the secrets ``names``."""
        nonce = random.token_hex(8)
        by_name: dict[str, str] = {}
        for name in names:
            marker = f"{_OPEN}secret.{nonce}.{name}{_CLOSE}"
            for variant in (name, name.upper(), name.lower()):
                by_name.setdefault(variant, marker)
        return cls(nonce, by_name)

    def pattern(self) -> re.Pattern[str]:
        """The placeholders of this compilation (none of another), the secret name grouped."""
        return re.compile(re.escape(f"{_OPEN}secret.{self.nonce}.") + f"([^{_CLOSE}]+){_CLOSE}")

    def resolve(self, spec: StageSpec) -> None:
        """Turn the placeholders in ``spec``'s step and service environments into secret
        references; ``PipelineError`` when one is left anywhere else."""
        if not self.by_name:
            return
        pattern = self.pattern()
        for step in [*spec.services, *spec.steps]:
            _resolve_step(step, pattern)
        # Each step has the stage's variables as references now; the stage keeps none.
        for name, value in list(spec.environment.items()):
            if pattern.search(value):
                del spec.environment[name]
        # dataclasses.asdict, not to_dict: the compile workers do without pydantic.
        stored = repr(dataclasses.asdict(spec))
        left = pattern.search(stored)
        if left or f"secret.{self.nonce}." in stored:  # the latter: in an escaped form
            secret = f"the secret {left.group(1)}" if left else "a secret"
            raise PipelineError(
                f'pipeline "{spec.name}": {secret} is substituted outside '
                "settings, environment values and commands; only those may hold a secret"
            )


def _resolve_step(step: StepSpec, pattern: re.Pattern[str]) -> None:
    for name, value in list(step.environment.items()):
        if _resolve_json(step, name, value, pattern):
            continue
        pieces = pattern.split(value)
        if len(pieces) == 1:
            continue
        del step.environment[name]
        step.secrets = [r for r in step.secrets if r.env != name]
        # re.split with one group alternates text and the captured secret names.
        step.secrets.append(SecretRef(env=name, name=pieces[1].lower(), parts=pieces))

    def shell_reference(match: re.Match[str]) -> str:
        secret = match.group(1)
        env = "DRONE_SECRET_" + re.sub(r"[^A-Z0-9_]", "_", secret.upper())
        if not any(r.env == env for r in step.secrets):
            step.secrets.append(SecretRef(env=env, name=secret.lower()))
        return "${" + env + "}"

    # In commands the value would be in the script: the shell reads it from a variable instead.
    step.commands = [pattern.sub(shell_reference, command) for command in step.commands]


def _resolve_json(step: StepSpec, name: str, value: str, pattern: re.Pattern[str]) -> bool:
    """A map or list setting is JSON, where a placeholder's brackets are escaped: each string
    holding placeholders becomes ``{"from_secret": NAME}`` with a reference to its place
    (``path``) and its text (``parts``), so the agent puts the text together and JSON-encodes
    it there (``plugin_settings.fill_secret``). False when ``value`` holds none."""
    if json.dumps(_OPEN)[1:-1] not in value:
        return False
    try:
        data = json.loads(value)
    except ValueError:
        return False
    refs: list[SecretRef] = []

    def walk(node: Any, path: list[str | int]) -> Any:
        if isinstance(node, dict):
            return {key: walk(item, [*path, key]) for key, item in node.items()}
        if isinstance(node, list):
            return [walk(item, [*path, index]) for index, item in enumerate(node)]
        if isinstance(node, str):
            pieces = pattern.split(node)
            if len(pieces) > 1:
                secret = pieces[1].lower()
                refs.append(SecretRef(env=name, name=secret, path=path, parts=pieces))
                return {"from_secret": secret}
        return node

    data = walk(data, [])
    if not refs:
        return False
    step.environment[name] = json.dumps(data, separators=(",", ":"))
    step.secrets.extend(refs)
    return True


def put_secrets(
    env: dict[str, str], refs: Iterable[SecretRef], values: Mapping[str, str]
) -> list[str]:
    """Put each reference's secret into ``env`` (names in any case): its text put together
    from ``parts``, at its ``path`` in the variable's JSON when it has one
    (``plugin_settings.fill_secret``), else as the whole variable. Returns a warning for each
    secret ``values`` lacks, whose place is left empty."""
    lookup = folded(values)
    warnings = []
    for ref in refs:
        for name in secret_names(ref.parts) if ref.parts else [ref.name]:
            if lookup(name) is None:
                if ref.parts:
                    where = f"it is empty in {ref.env}"
                elif ref.path:
                    where = f"{ref.env} at {_place(ref.path)} is empty"
                else:
                    where = f"{ref.env} is empty"
                warnings.append(f"warning: secret {name} is not available to this build; {where}")
        value = fill(ref.parts or ["", ref.name, ""], lookup)
        if ref.path:  # a from_secret nested in a setting: into that setting's JSON
            env[ref.env] = fill_secret(env.get(ref.env, ""), ref.path, value)
        else:
            env[ref.env] = value
    return warnings


def _place(path: list[str | int]) -> str:
    """A JSON path as a user writes it: ``logins[0].password``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def fill(parts: list[str], lookup: Callable[[str], str | None]) -> str:
    """The text of ``parts`` (text, secret name, text, ...) with each secret's value;
    a secret ``lookup`` does not know is empty, as an unknown variable is."""
    return "".join(p if i % 2 == 0 else (lookup(p) or "") for i, p in enumerate(parts))


def secret_names(parts: list[str]) -> list[str]:
    """The secret names of ``parts``."""
    return parts[1::2]


def folded(values: Mapping[str, str]) -> Callable[[str], str | None]:
    """A lookup of ``values`` by name in any case (secret names are case-insensitive); an
    exact name wins."""
    lower = {k.lower(): v for k, v in values.items()}

    def lookup(name: str) -> str | None:
        return values[name] if name in values else lower.get(name.lower())

    return lookup
