"""Reading a plugin's ``settings:`` (``PLUGIN_*``) and the build data (``DRONE_*``/``CI_*``).

The runner exports each setting as ``PLUGIN_<NAME>`` (upper case, ``-`` and ``.`` as ``_``);
lists arrive comma-joined, maps and lists of maps as JSON. Every accessor takes several names,
so a plugin accepts the setting names of the well-known Drone plugins it replaces.
"""

from __future__ import annotations

import json
import os
from typing import Any, overload

from plugin_kit.output import MASKER


class SettingError(Exception):
    """A setting that is missing or has a value the plugin cannot use; the message is one line."""


def env_name(name: str) -> str:
    """The environment variable of setting ``name``: ``build-args`` → ``PLUGIN_BUILD_ARGS``."""
    return "PLUGIN_" + name.upper().replace("-", "_").replace(".", "_")


class Settings:
    """The settings of one plugin run, read from an environment mapping (``os.environ`` default).

    Accessors return the value of the first of their names that is set and not empty.
    Secrets read through ``secret`` or ``require_secret`` are registered with the output masker.
    """

    def __init__(self, environ: dict[str, str] | None = None):
        self.environ = dict(os.environ if environ is None else environ)

    @overload
    def get(self, *names: str, default: str) -> str: ...

    @overload
    def get(self, *names: str, default: None = None) -> str | None: ...

    def get(self, *names: str, default: str | None = None) -> str | None:
        """The value of the first name that is set and not empty, else ``default``."""
        for name in names:
            value = self.environ.get(env_name(name))
            if value is not None and value != "":
                return value
        return default

    def require(self, *names: str, hint: str = "") -> str:
        """The value, or a ``SettingError`` naming the setting (and its variable) to set."""
        value = self.get(*names)
        if value is None:
            others = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
            extra = f"; {hint}" if hint else ""
            raise SettingError(
                f"missing required setting '{names[0]}'{others}: add it under settings: of the "
                f"step ({env_name(names[0])}){extra}"
            )
        return value

    def secret(self, *names: str, default: str | None = None) -> str | None:
        value = self.get(*names, default=default)
        if value:
            MASKER.add(value)
        return value

    def require_secret(self, *names: str, hint: str = "") -> str:
        value = self.require(*names, hint=hint)
        MASKER.add(value)
        return value

    def env(self, *variables: str, secret: bool = False) -> str | None:
        """The first of the plain environment ``variables`` that is set and not empty: the
        fallbacks a Drone plugin reads beside its ``PLUGIN_*`` (``DOCKER_PASSWORD``, which a
        Drone 0.8 ``secrets: [docker_password]`` exports). ``secret`` masks the value."""
        for variable in variables:
            value = self.environ.get(variable)
            if value:
                if secret:
                    MASKER.add(value)
                return value
        return None

    def bool(self, *names: str, default: bool = False) -> bool:
        value = self.get(*names)
        if value is None:
            return default
        return value.strip().lower() in ("1", "true", "yes", "on", "y")

    def int(self, *names: str, default: int = 0) -> int:
        value = self.get(*names)
        if value is None:
            return default
        try:
            return int(value.strip())
        except ValueError:
            raise SettingError(
                f"setting '{names[0]}' must be a whole number, got {value!r}"
            ) from None

    def float(self, *names: str, default: float = 0.0) -> float:
        value = self.get(*names)
        if value is None:
            return default
        try:
            return float(value.strip().rstrip("s"))
        except ValueError:
            raise SettingError(f"setting '{names[0]}' must be a number, got {value!r}") from None

    def list(self, *names: str, default: list[str] | None = None) -> list[str]:
        """A list setting: comma-joined (the runner's form) or a JSON array."""
        value = self.get(*names)
        if value is None:
            return list(default or [])
        text = value.strip()
        if text.startswith("["):
            try:
                return [str(v) for v in json.loads(text)]
            except ValueError:
                pass
        return [part.strip() for part in text.split(",") if part.strip()]

    def map(self, *names: str) -> dict[str, str]:
        """A map setting: a JSON object, or a list of ``KEY=VALUE`` items."""
        value = self.get(*names)
        if value is None:
            return {}
        text = value.strip()
        if text.startswith("{"):
            try:
                return {str(k): _scalar(v) for k, v in json.loads(text).items()}
            except ValueError:
                raise SettingError(f"setting '{names[0]}' is not valid JSON: {text[:60]}") from None
        out: dict[str, str] = {}
        for item in self.list(*names):
            key, sep, val = item.partition("=")
            if not sep:
                key, sep, val = item.partition(":")
            if not sep:
                raise SettingError(f"setting '{names[0]}': item {item!r} is not KEY=VALUE")
            out[key.strip()] = val.strip()
        return out

    def json(self, *names: str, default: Any = None) -> Any:
        value = self.get(*names)
        if value is None:
            return default
        try:
            return json.loads(value)
        except ValueError:
            raise SettingError(f"setting '{names[0]}' is not valid JSON: {value[:60]}") from None

    def build(self, *names: str, default: str = "") -> str:
        """Build data: the first of ``DRONE_<NAME>`` / ``CI_<NAME>`` variables that is set."""
        for name in names:
            value = self.environ.get(name)
            if value:
                return value
        return default


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)
