"""The project's error hierarchy.

Errors are raised where they happen and turned into HTTP answers or CLI messages in one place
(``runner.server.errors`` and ``runner.cli``). A message says what was wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class RunnerError(Exception):
    """Base of every error the project raises on purpose."""

    http_status = 500


class PipelineError(RunnerError):
    """A pipeline file that cannot be substituted, parsed or compiled.

    ``issues`` holds the lint issues (``runner.pipeline.lint.Issue``) when there are several.
    """

    http_status = 400

    def __init__(
        self, message: str, *, file: str = "", line: int = 0, issues: Iterable[Any] | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.issues = list(issues or [])
        super().__init__(message)

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        msg = super().__str__()
        return f"{where}: {msg}" if where else msg


class SubstitutionError(PipelineError):
    """A ``${...}`` expression that cannot be evaluated."""


class BudgetExceeded(PipelineError):
    """A pipeline file over one of the limits of ``runner.pipeline.limits`` (size, nesting,
    aliases, matrix, steps...). ``limit`` names the limit that was hit."""

    def __init__(self, message: str, *, file: str = "", line: int = 0, limit: str = ""):
        self.limit = limit
        super().__init__(message, file=file, line=line)


class PayloadError(RunnerError):
    """A stage spec or an agent RPC payload whose fields do not have their types.

    ``stage_id`` is the claimed stage's id when the payload still told it.
    """

    http_status = 400
    stage_id: int | None = None


class EngineError(RunnerError):
    """The container engine failed (missing image, daemon unreachable, refused mount)."""


class PolicyError(RunnerError):
    """Something the trust policy refuses (docker socket, privileged, host volume)."""

    http_status = 403


class NotFound(RunnerError):
    http_status = 404


class Unauthorized(RunnerError):
    http_status = 401


class Forbidden(RunnerError):
    http_status = 403


class BadRequest(RunnerError):
    http_status = 400


class Conflict(RunnerError):
    http_status = 409


class Busy(RunnerError):
    """The server takes no more of this kind of work now (503); ``retry_after`` seconds later
    it may."""

    http_status = 503

    def __init__(self, message: str, *, retry_after: int):
        self.retry_after = retry_after
        super().__init__(message)


class TooManyRequests(Busy):
    """One caller holds as much of this kind of work as it may (429); others are unaffected."""

    http_status = 429


class StorageUnavailable(Busy):
    """A store the server keeps data in (the log bucket) did not answer (503): the message
    says so without naming its address; the details go to the server's log."""

    def __init__(self, message: str, *, retry_after: int = 5):
        super().__init__(message, retry_after=retry_after)
