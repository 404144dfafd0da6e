"""Small form validation for the settings pages: each check returns a value or records an error.

A ``Form`` wraps ``request.form``; pages render ``form.errors`` next to each field, so an
invalid value is answered with the form again (status 400) and a message saying what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import request

from runner.errors import BadRequest
from runner.labels import parse_labels


class Form:
    """Validated values of the submitted form and the error message of each bad field."""

    def __init__(self, source: Mapping[str, str] | None = None) -> None:
        self.source: Mapping[str, str] = request.form if source is None else source
        self.errors: dict[str, str] = {}

    def text(
        self,
        name: str,
        *,
        required: bool = False,
        pattern: re.Pattern[str] | None = None,
        message: str = "",
        max_len: int = 500,
    ) -> str:
        """A stripped text field; ``pattern`` (a compiled regex) must match when given."""
        value = (self.source.get(name) or "").strip()
        if not value:
            if required:
                self.errors[name] = message or "This field is required."
            return ""
        if len(value) > max_len:
            self.errors[name] = f"At most {max_len} characters."
        elif pattern is not None and not pattern.match(value):
            self.errors[name] = message or "This value is not allowed here."
        return value

    def integer(self, name: str, *, low: int, high: int, default: int = 0) -> int:
        """A whole number between ``low`` and ``high``."""
        raw = (self.source.get(name) or "").strip()
        if raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            self.errors[name] = f"Enter a whole number between {low} and {high}."
            return default
        if not low <= value <= high:
            self.errors[name] = f"Enter a whole number between {low} and {high}."
        return value

    def flag(self, name: str) -> bool:
        """A checkbox."""
        return self.source.get(name) in ("1", "on", "true", "yes")

    def items(self, name: str) -> list[str]:
        """A comma-separated list, blanks dropped."""
        return [p.strip() for p in (self.source.get(name) or "").split(",") if p.strip()]

    def labels(self, name: str) -> dict[str, str]:
        """``key=value`` pairs separated by commas, read by ``runner.labels.parse_labels``; a
        pair without ``=`` or without a key is an error."""
        try:
            return parse_labels(self.source.get(name) or "")
        except ValueError as exc:
            self.errors[name] = f"Write labels as key=value, separated by commas: {exc}."
            return {}

    def checked(self, name: str, rule: Callable[[str], Any]) -> Any:
        """The field checked by ``rule`` (an action's own rule, raising ``BadRequest``); the
        rule's message is the field's error."""
        value = (self.source.get(name) or "").strip()
        try:
            return rule(value)
        except BadRequest as exc:
            text = str(exc)
            self.errors[name] = text[:1].upper() + text[1:] + "."
            return value

    @property
    def ok(self) -> bool:
        return not self.errors
