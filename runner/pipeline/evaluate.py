"""Woodpecker's ``when.evaluate``: an expr-lang expression over the build's ``CI_*`` variables.

Woodpecker compiles the expression with expr-lang (github.com/expr-lang/expr) and runs it
against the environment (pipeline/frontend/yaml/constraint/constraint.go, ``Constraint.Match``);
an expression that does not compile, fails when run, or gives something other than a boolean
is an error of the pipeline, never "true" or "false". Here: ``parse_expression`` is what lint
calls (a syntax error is a blocking issue at the ``evaluate`` line), ``evaluate`` what the
conditions call when a build is compiled (a type error there ends the build in ``error``).

The language (``runner.pipeline.expr``) is expr-lang's: literals, operators, member access,
slices, ranges, ``?:``, ``??``, ``let``, the builtins and the predicates over ``#``.
``matches`` uses RE2, as Go's ``regexp`` does, so no pattern takes more than linear time.
Every stage is bounded (``limits.MAX_EXPRESSION_BYTES``, ``MAX_EXPRESSION_DEPTH``,
``MAX_EXPRESSION_STEPS``, ``MAX_EXPRESSION_STRING``, ``MAX_EXPRESSION_ITEMS``).
"""

from __future__ import annotations

from collections.abc import Mapping

from runner.pipeline.expr.errors import ExpressionError, ExpressionTooComplex
from runner.pipeline.expr.interpreter import Interpreter
from runner.pipeline.expr.parser import Node, parse
from runner.pipeline.expr.regex import compile_regex
from runner.pipeline.expr.values import go_type

__all__ = ["ExpressionError", "ExpressionTooComplex", "evaluate", "parse_expression"]


def parse_expression(text: str) -> Node:
    """Parse ``text``; raise ``ExpressionError`` when it is not expr-lang (a literal
    ``matches`` pattern RE2 refuses included), ``ExpressionTooComplex`` when it is over a
    budget (a literal pattern that needs more than ``limits.MAX_REGEX_MEMORY`` included)."""
    tree = parse(text)
    pending = [tree]
    while pending:
        node = pending.pop()
        if node[0] == "bin" and node[1] == "matches" and node[3][0] == "lit":
            if isinstance(node[3][1], str):
                compile_regex(node[3][1])
        pending.extend(child for child in _children(node))
    return tree


def _children(node: Node) -> list[Node]:
    out: list[Node] = []
    for part in node[1:]:
        if isinstance(part, tuple) and part and isinstance(part[0], str):
            out.append(part)
        elif isinstance(part, list):
            for item in part:
                if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], tuple):
                    out.extend(item)  # a map literal's (key, value)
                elif isinstance(item, tuple):
                    out.append(item)
    return out


def evaluate(text: str, env: Mapping[str, str]) -> bool:
    """Evaluate ``text`` against the build environment ``env`` (names it lacks read as "").

    Raises ``ExpressionError`` when the expression does not parse, fails (a type error: the
    message says which) or gives a value that is not a boolean, as Woodpecker's ``AsBool``
    does; ``ExpressionTooComplex`` when it is over a budget.
    """
    result = Interpreter(env).run(parse_expression(text))
    if not isinstance(result, bool):
        raise ExpressionError(f"expected bool, but got {go_type(result)}")
    return result
