"""Evaluate a syntax tree of ``parser`` against Woodpecker's environment.

Woodpecker passes the build's ``CI_*`` variables as a ``map[string]string`` environment
(pipeline/frontend/yaml/constraint/constraint.go, ``Constraint.Match``: ``expr.Compile`` with
``expr.Env(env)``, ``expr.AllowUndefinedVariables()``, ``expr.AsBool()``), so every variable
is a string and a name it does not hold reads as the empty string (expr-lang's
``runtime.Fetch`` gives the zero value of the map's element type). ``$env`` is the whole map.

Bounded: every node evaluated and every item a predicate visits is a step of ``Budget``;
a chain of left-associative operators is folded in a loop, so its length needs no stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.pipeline.expr import values
from runner.pipeline.expr.budget import Budget
from runner.pipeline.expr.builtins import BUILTINS
from runner.pipeline.expr.errors import ExpressionError
from runner.pipeline.expr.parser import PREDICATES, Node
from runner.pipeline.expr.regex import matches

_STRING_OPS = ("contains", "startsWith", "endsWith", "matches")
_NO_POINTER = object()


class Interpreter:
    """One evaluation: the environment, the ``let`` names in scope, the budget."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.budget = Budget()
        self.names: dict[str, Any] = {}
        self.pointer: dict[str, Any] = {}

    def run(self, node: Node) -> Any:
        """The value of ``node``; ``ExpressionError`` for a type error, ``ExpressionTooComplex``
        over a budget."""
        self.budget.charge()
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "var":
            return self.variable(node[1])
        if kind == "ptr":
            value = self.pointer.get(node[1] or "", _NO_POINTER)
            if value is _NO_POINTER:
                raise ExpressionError(f"unknown pointer #{node[1]}")
            return value
        if kind == "bin":
            return self.binary_chain(node)
        if kind == "unary":
            return self.unary(node[1], self.run(node[2]))
        if kind == "cond":
            if node[1] is node[2]:  # `a ?: b`: a unless it is nil or false
                value = self.run(node[1])
                return value if value not in (None, False) else self.run(node[3])
            return self.run(node[2] if values.truth("?:", self.run(node[1])) else node[3])
        if kind == "array":
            return self.budget.made([self.run(item) for item in node[1]])
        if kind == "map":
            out: dict[str, Any] = {}
            for key_node, value_node in node[1]:
                key = self.run(key_node)
                out[key if isinstance(key, str) else values.to_string(key)] = self.run(value_node)
            return out
        if kind == "member":
            return values.member(self.run(node[1]), self.run(node[2]), node[3])
        if kind == "slice":
            low = None if node[2] is None else self.run(node[2])
            high = None if node[3] is None else self.run(node[3])
            sliced = self.run(node[1])
            self.budget.scan(sliced)
            return values.slice_of(sliced, low, high)
        if kind == "call":
            return self.call(node[1], node[2])
        if kind == "let":
            saved = self.names.get(node[1], _NO_POINTER)
            self.names[node[1]] = self.run(node[2])
            try:
                return self.run(node[3])
            finally:
                if saved is _NO_POINTER:
                    del self.names[node[1]]
                else:
                    self.names[node[1]] = saved
        raise ExpressionError(f"cannot evaluate {kind}")

    def variable(self, name: str) -> Any:
        if name in self.names:
            return self.names[name]
        if name == "$env":
            return dict(self.env)
        return self.env.get(name, "")

    def unary(self, op: str, value: Any) -> Any:
        if op in ("not", "!"):
            return not values.truth(op, value)
        if op == "-":
            return values.negate(value)
        if not values.is_number(value):
            raise ExpressionError(f"invalid operation: + {values.go_type(value)}")
        return value

    def binary_chain(self, node: Node) -> Any:
        """``((a op b) op c) op d``: the left spine walked in a loop, not by recursion."""
        spine: list[tuple[str, Node]] = []
        while node[0] == "bin":
            spine.append((node[1], node[3]))
            node = node[2]
        value = self.run(node)
        for op, right in reversed(spine):
            self.budget.charge()
            value = self.binary(op, value, right)
        return value

    def binary(self, op: str, left: Any, right_node: Node) -> Any:
        # and / or / ?? decide before the right side is evaluated, as expr-lang's jumps do.
        if op in ("and", "&&"):
            return values.truth(op, left) and values.truth(op, self.run(right_node))
        if op in ("or", "||"):
            return values.truth(op, left) or values.truth(op, self.run(right_node))
        if op == "??":
            return left if left is not None else self.run(right_node)
        right = self.run(right_node)
        self.budget.scan(left, right)  # comparisons, searches and joins read both sides
        if op == "==":
            return values.equal(left, right)
        if op == "!=":
            return not values.equal(left, right)
        if op in ("<", "<=", ">", ">="):
            return values.less(op, left, right)
        if op == "in":
            return values.contained(left, right)
        if op in _STRING_OPS:
            if not (isinstance(left, str) and isinstance(right, str)):
                raise values.mismatch(op, left, right)
            if op == "contains":
                return right in left
            if op == "startsWith":
                return left.startswith(right)
            if op == "endsWith":
                return left.endswith(right)
            return matches(left, right)
        if op == "..":
            if not (isinstance(left, int) and isinstance(right, int)) or isinstance(left, bool):
                raise values.mismatch(op, left, right)
            self.budget.size(max(right - left + 1, 0), "list")
            return list(range(left, right + 1))
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            self.budget.size(len(left) + len(right), "string")
        return values.arithmetic(op, left, right)

    def call(self, name: str, args: list[Node]) -> Any:
        if name in PREDICATES:
            return self.predicate(name, args)
        builtin = BUILTINS.get(name)
        if builtin is None:
            if name in self.names:
                raise ExpressionError(f"{name} is not a function")
            raise ExpressionError(f"unknown function {name}")
        argv = [self.run(arg) for arg in args]
        self.budget.scan(*argv)  # len, reverse, take, indexOf, trim... read their arguments
        return builtin(argv, self.budget)

    def predicate(self, name: str, args: list[Node]) -> Any:
        """``all any none one filter map count find findIndex findLast findLastIndex``:
        the closure runs once per item with ``#`` the item and ``#index`` its index."""
        if len(args) == 1 and name == "count":
            args = [args[0], ("closure", ("ptr", ""))]
        if len(args) != 2 or args[1][0] != "closure":
            raise ExpressionError(f"{name}: expected an array and a predicate")
        items = self.run(args[0])
        if not isinstance(items, list):
            raise ExpressionError(f"cannot use {values.go_type(items)} as array in {name}")
        body = args[1][1]
        order = range(len(items) - 1, -1, -1) if name.startswith("findLast") else range(len(items))
        saved = self.pointer
        results: list[Any] = []
        try:
            for index in order:
                self.pointer = {"": items[index], "index": index}
                result = self.run(body)
                if name == "map":
                    results.append(result)
                    continue
                hit = values.truth(name, result)
                if name in ("find", "findLast") and hit:
                    return items[index]
                if name in ("findIndex", "findLastIndex") and hit:
                    return index
                if name == "all" and not hit:
                    return False
                if name == "any" and hit:
                    return True
                if name == "none" and hit:
                    return False
                if hit:
                    results.append(items[index])
        finally:
            self.pointer = saved
        return _predicate_result(name, results)


def _predicate_result(name: str, hits: list[Any]) -> Any:
    if name in ("all", "none"):
        return True
    if name == "any":
        return False
    if name == "one":
        return len(hits) == 1
    if name == "count":
        return len(hits)
    if name in ("filter", "map"):
        return hits
    if name in ("findIndex", "findLastIndex"):
        return -1
    return None
