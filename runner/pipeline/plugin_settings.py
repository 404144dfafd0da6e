"""A step's ``settings:`` as the ``PLUGIN_*`` variables a plugin reads, and the secrets in them.

Scalars become text, lists of scalars are comma-joined, maps and lists holding maps become
JSON (as Drone's and Woodpecker's compilers encode them). ``from_secret`` may stand anywhere:

- as a setting's whole value it is a ``SecretRef`` on ``PLUGIN_<NAME>``;
- nested in a map or a list (Woodpecker's ``logins: [{registry: ..., password: {from_secret:
  x}}]``) the compiled JSON keeps ``{"from_secret": "x"}`` at its place and a ``SecretRef`` on
  ``PLUGIN_<NAME>`` carries the ``path`` of keys and indexes to it. The value is put into the
  JSON only by the agent (``fill_secret``), after the server handed out the secrets the build
  may have, so the compiled spec, the store and ``runner plan`` never hold it.

Woodpecker does the same substitution at compile time
(woodpecker-ci/woodpecker pipeline/frontend/yaml/compiler/settings/params.go,
``injectSecretRecursive``); here it happens on the agent, where the values already are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from runner.pipeline.spec import SecretRef
from runner.pipeline.yamlload import to_text

# Keys of maps and indexes of lists, from a setting's value down to one place in it.
JsonPath = list[str | int]


def plugin_name(key: str) -> str:
    """``PLUGIN_<NAME>``: upper case, ``-`` and ``.`` as ``_``."""
    return "PLUGIN_" + key.upper().replace("-", "_").replace(".", "_")


def plugin_variables(settings: dict[str, Any]) -> tuple[dict[str, str], list[SecretRef]]:
    """``settings:`` as ``PLUGIN_*`` variables and the secret references among them (see the
    module's docstring). A key with ``-`` or ``.`` is also exported under its raw upper-case
    name (``PLUGIN_CACHE-FROM``), with its own references."""
    env: dict[str, str] = {}
    secrets: list[SecretRef] = []
    for key, value in settings.items():
        names = [plugin_name(key)]
        raw_name = "PLUGIN_" + key.upper()
        if raw_name != names[0]:
            names.append(raw_name)
        if is_secret(value):
            secrets.extend(SecretRef(env=n, name=to_text(value["from_secret"])) for n in names)
            continue
        nested: list[tuple[JsonPath, str]] = []
        _find_secrets(value, [], nested)
        text = setting_text(value)
        for name in names:
            env[name] = text
            secrets.extend(SecretRef(env=name, name=secret, path=path) for path, secret in nested)
    return env, secrets


def is_secret(value: Any) -> bool:
    """Whether ``value`` is a ``{from_secret: name}`` reference."""
    return isinstance(value, dict) and len(value) == 1 and "from_secret" in value


def _find_secrets(value: Any, path: JsonPath, out: list[tuple[JsonPath, str]]) -> None:
    if is_secret(value):
        out.append((path, to_text(value["from_secret"])))
    elif isinstance(value, dict):
        for key, item in value.items():
            _find_secrets(item, [*path, str(key)], out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _find_secrets(item, [*path, index], out)


def setting_text(value: Any) -> str:
    """One setting's value as its variable's text."""
    if isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value):
        return ",".join(to_text(v) for v in value)
    if isinstance(value, (dict, list)):
        return _json(_plain(value))
    return to_text(value)


def fill_secret(text: str, path: JsonPath, value: str) -> str:
    """The JSON ``text`` of a setting with ``value`` put at ``path`` (where the compiler left
    ``{"from_secret": ...}``). ``text`` unchanged when ``path`` leads nowhere (a step's own
    ``environment`` replaced the variable): a secret is never put where it was not asked."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    holder: Any = data
    for part in path[:-1]:
        holder = _child(holder, part)
        if holder is None:
            return text
    last = path[-1] if path else None
    if last is None or not is_secret(_child(holder, last)):
        return text
    holder[last] = value
    return _json(data)


def masked_forms(values: Iterable[str]) -> list[str]:
    """Each secret value and, where it differs, its text inside a setting's JSON (quotes,
    backslashes, line breaks and non-ASCII escaped): a plugin that prints the JSON ``fill_secret``
    made shows the value in that form, which the log must mask too."""
    out: list[str] = []
    for value in values:
        out.append(value)
        escaped = json.dumps(value)[1:-1]
        if escaped != value:
            out.append(escaped)
    return out


def _child(holder: Any, part: str | int) -> Any:
    if isinstance(holder, dict) and isinstance(part, str):
        return holder.get(part)
    if isinstance(holder, list) and isinstance(part, int) and 0 <= part < len(holder):
        return holder[part]
    return None


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, type(None))):
        return value
    if isinstance(value, (int, float)):
        return int(value) if isinstance(value, int) else float(value)
    return to_text(value)
