"""Lint issues: one problem of a pipeline file, with where it is and how to fix it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass
class Issue:
    """One problem found in a pipeline file.

    ``path`` is the field path (``steps[2].commands``, ``steps.build.image``); ``level`` is
    ``error`` (blocks the build) or ``warning`` (shown, does not block).
    """

    file: str
    line: int
    path: str
    message: str
    level: str = ERROR

    def format(self) -> str:
        """``file:line: level: path: message``, the form `runner lint` prints."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        path = f"{self.path}: " if self.path else ""
        return f"{where}: {self.level}: {path}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def blocking(self) -> bool:
        return self.level == ERROR


class IssueList(list[Issue]):
    """Issues collected while reading one file; every reader appends here, none raises."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def error(self, line: int, path: str, message: str) -> None:
        self.append(Issue(self.file, line, path, message, ERROR))

    def warning(self, line: int, path: str, message: str) -> None:
        self.append(Issue(self.file, line, path, message, WARNING))


def blocking(issues: list[Issue]) -> list[Issue]:
    """The issues that block a build."""
    return [i for i in issues if i.level == ERROR]
