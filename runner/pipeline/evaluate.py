"""Woodpecker's ``when.evaluate`` expressions, for the forms seen in real files.

Supported: ``==``, ``!=``, ``contains``, ``startsWith``, ``endsWith``, ``matches`` (regex),
``in [..]``, ``not in``, ``&&``/``and``, ``||``/``or``, ``!``/``not``, parentheses, string
literals, ``true``/``false`` and variable names (looked up in the build environment; unknown
names are empty; ``$env`` is the whole environment). Anything else raises ``ExpressionError``.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
    r"|(?P<op>==|!=|&&|\|\||!|\(|\)|\[|\]|,)"
    r"|(?P<word>\$?[A-Za-z_][A-Za-z0-9_]*))"
)
_BINARY = ("==", "!=", "contains", "startsWith", "endsWith", "matches", "in")


class ExpressionError(ValueError):
    """An expression this evaluator does not understand."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot read evaluate expression at {text[pos:]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
    return out


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        if self.take()[1] != value:
            raise ExpressionError(f"expected {value!r} in evaluate expression")

    def parse(self) -> Any:
        tree = self.or_()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in evaluate expression")
        return tree

    def or_(self) -> Any:
        left = self.and_()
        while self.peek()[1] in ("||", "or"):
            self.take()
            left = ("or", left, self.and_())
        return left

    def and_(self) -> Any:
        left = self.not_()
        while self.peek()[1] in ("&&", "and"):
            self.take()
            left = ("and", left, self.not_())
        return left

    def not_(self) -> Any:
        if self.peek()[1] in ("!", "not"):
            self.take()
            return ("not", self.not_())
        return self.compare()

    def compare(self) -> Any:
        left = self.primary()
        op = self.peek()[1]
        if op == "not" and self.pos + 1 < len(self.tokens) and self.tokens[self.pos + 1][1] == "in":
            self.pos += 2
            return ("not", ("in", left, self.primary()))
        if op in _BINARY:
            self.take()
            return (op, left, self.primary())
        return left

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return ("lit", value)
        if value == "(":
            inner = self.or_()
            self.expect(")")
            return inner
        if value == "[":
            items = []
            while self.peek()[1] != "]":
                items.append(self.primary())
                if self.peek()[1] == ",":
                    self.take()
                elif self.peek()[1] != "]":
                    raise ExpressionError("expected , or ] in a list of the evaluate expression")
            self.take()
            return ("list", items)
        if kind == "word":
            if value in ("true", "false"):
                return ("lit", value == "true")
            return ("var", value)
        raise ExpressionError(f"unexpected {value or 'end'!r} in evaluate expression")


def parse_expression(text: str) -> Any:
    """Parse ``text``; raise ``ExpressionError`` when it is not understood."""
    return _Parser(text).parse()


def evaluate(text: str, env: dict[str, str]) -> bool:
    """Evaluate ``text`` against the build environment ``env``."""
    return bool(_eval(parse_expression(text), env))


def _eval(node: Any, env: dict[str, str]) -> Any:
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "var":
        return env if node[1] == "$env" else env.get(node[1], "")
    if op == "list":
        return [_eval(n, env) for n in node[1]]
    if op == "not":
        return not _eval(node[1], env)
    if op == "and":
        return bool(_eval(node[1], env)) and bool(_eval(node[2], env))
    if op == "or":
        return bool(_eval(node[1], env)) or bool(_eval(node[2], env))
    left, right = _eval(node[1], env), _eval(node[2], env)
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "contains":
        return str(right) in (left if isinstance(left, list) else str(left))
    if op == "startsWith":
        return str(left).startswith(str(right))
    if op == "endsWith":
        return str(left).endswith(str(right))
    if op == "matches":
        try:
            return re.search(str(right), str(left)) is not None
        except re.error as exc:
            raise ExpressionError(f"invalid regular expression {right!r}: {exc}") from None
    if op == "in":
        return left in right if isinstance(right, (list, dict)) else str(left) in str(right)
    raise ExpressionError(f"unknown operator {op!r}")
