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

from runner.pipeline.expr.builtins import BUILTINS
from runner.pipeline.expr.errors import ExpressionError, ExpressionTooComplex
from runner.pipeline.expr.interpreter import Interpreter
from runner.pipeline.expr.parser import PREDICATES, Node, parse
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
        if node[0] == "call" and node[1] not in BUILTINS and node[1] not in PREDICATES:
            raise ExpressionError(f"unknown func {node[1]}")  # expr.Compile's check
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


_TYPED_OPS = ("<", "<=", ">", ">=", "+", "-", "*", "/", "%", "**", "^", "..")
_BOOL_OPS = ("and", "&&", "or", "||")


def _check_types(tree: Node, env: Mapping[str, str]) -> None:
    """What expr.Compile's type checker refuses before anything runs, for the types this
    environment fixes: every name it holds is a string (a ``map[string]string``), so a string
    name beside a number in arithmetic or ``<``, or as an operand of ``and``/``or``/``not``, is
    an error even in a branch that would never be evaluated."""
    pending = [tree]
    while pending:
        node = pending.pop()
        pending.extend(_children(node))
        if node[0] == "bin" and node[1] in _TYPED_OPS:
            sides = (node[2], node[3])
            named = [n for n in sides if n[0] == "var" and n[1] in env]
            numbers = [n for n in sides if n[0] == "lit" and go_type(n[1]) in ("int", "float")]
            if named and numbers:
                raise ExpressionError(
                    f"invalid operation: {node[1]} (mismatched types string and "
                    f"{go_type(numbers[0][1])}): {named[0][1]} is a string"
                )
        operands: list[Node] = []
        if node[0] == "bin" and node[1] in _BOOL_OPS:
            operands = [node[2], node[3]]
        elif node[0] == "unary" and node[1] in ("not", "!"):
            operands = [node[2]]
        for operand in operands:
            if operand[0] == "var" and operand[1] in env:
                raise ExpressionError(
                    f"invalid operation: {node[1]} on string ({operand[1]} is a string)"
                )


def evaluate(text: str, env: Mapping[str, str]) -> bool:
    """Evaluate ``text`` against the build environment ``env`` (names it lacks read as "").

    Raises ``ExpressionError`` when the expression does not parse, fails (a type error: the
    message says which) or gives a value that is not a boolean, as Woodpecker's ``AsBool``
    does; ``ExpressionTooComplex`` when it is over a budget.
    """
    tree = parse_expression(text)
    _check_types(tree, env)
    result = Interpreter(env).run(tree)
    if not isinstance(result, bool):
        raise ExpressionError(f"expected bool, but got {go_type(result)}")
    return result
