"""The errors of the expression language."""

from __future__ import annotations


class ExpressionError(ValueError):
    """An expression that does not parse, or that fails when evaluated (a type error)."""


class ExpressionTooComplex(ExpressionError):
    """An expression over a budget of ``runner.pipeline.limits``; ``limit`` names it."""

    def __init__(self, what: str, limit: str) -> None:
        self.limit = limit
        super().__init__(f"{what}: over the limit of {limit}")
