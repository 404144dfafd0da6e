"""The work one evaluation may do: steps, and the size of the strings and lists it makes."""

from __future__ import annotations

from typing import Any

from runner.pipeline import limits
from runner.pipeline.expr.errors import ExpressionTooComplex


class Budget:
    """Counts the steps of one evaluation; refuses values over the size limits.

    A step is one node evaluated or one item a function or predicate visits, so the time an
    evaluation takes is bounded by ``limits.MAX_EXPRESSION_STEPS`` whatever the expression.
    """

    def __init__(self) -> None:
        self.steps = 0

    def charge(self, count: int = 1) -> None:
        """Spend ``count`` steps; ``ExpressionTooComplex`` past the limit."""
        self.steps += count
        if self.steps > limits.MAX_EXPRESSION_STEPS:
            raise ExpressionTooComplex(
                "the evaluate expression takes too many steps",
                f"{limits.MAX_EXPRESSION_STEPS} steps per evaluate expression",
            )

    def size(self, count: int, what: str) -> None:
        """Refuse a string or list of ``count`` characters or items before it is made."""
        if what == "string" and count > limits.MAX_EXPRESSION_STRING:
            raise ExpressionTooComplex(
                f"the evaluate expression makes a string of {count} characters",
                f"{limits.MAX_EXPRESSION_STRING} characters per value of an evaluate expression",
            )
        if what == "list" and count > limits.MAX_EXPRESSION_ITEMS:
            raise ExpressionTooComplex(
                f"the evaluate expression makes a list of {count} items",
                f"{limits.MAX_EXPRESSION_ITEMS} items per value of an evaluate expression",
            )
        self.charge(count // 64)

    def scan(self, *operands: Any) -> None:
        """Charge what reading ``operands`` costs (comparing, searching, copying them): a step
        per 16 characters or items of each string, list or map, so an operation on big values
        in a loop spends its budget."""
        self.charge(sum(len(v) for v in operands if isinstance(v, (str, list, dict))) // 16)

    def made(self, value: Any) -> Any:
        """Check a value just made (a string or list) against the size limits; return it."""
        if isinstance(value, str):
            self.size(len(value), "string")
        elif isinstance(value, (list, dict)):
            self.size(len(value), "list")
        return value
