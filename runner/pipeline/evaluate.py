"""Woodpecker's ``when.evaluate`` expressions, for the forms seen in real files.

Supported: ``==``, ``!=``, ``contains``, ``startsWith``, ``endsWith``, ``matches`` (regex),
``in [..]``, ``not in``, ``&&``/``and``, ``||``/``or``, ``!``/``not``, parentheses, string
literals, ``true``/``false`` and variable names (looked up in the build environment; unknown
names are empty; ``$env`` is the whole environment). Anything else raises ``ExpressionError``.

``matches`` uses RE2 (google-re2), as Woodpecker does: its expressions are expr-lang's, whose
``matches`` calls Go's ``regexp.MatchString``, and Go's regexp is RE2 (linear time, no
backreferences or lookaround). So a pattern behaves as in Woodpecker, and no pattern can take
more than linear time: ``"aaaa…!" matches "^(a+)+$"`` is as quick as any other. Expressions
are bounded too (``limits.MAX_EXPRESSION_BYTES``, ``limits.MAX_EXPRESSION_DEPTH``).
"""

from __future__ import annotations

import re
from typing import Any

import re2

from runner.pipeline import limits

_TOKEN = re.compile(
    r"\s*(?:(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
    r"|(?P<op>==|!=|&&|\|\||!|\(|\)|\[|\]|,)"
    r"|(?P<word>\$?[A-Za-z_][A-Za-z0-9_]*))"
)
_BINARY = ("==", "!=", "contains", "startsWith", "endsWith", "matches", "in")


class ExpressionError(ValueError):
    """An expression this evaluator does not understand."""


class ExpressionTooComplex(ExpressionError):
    """An expression over a budget of ``runner.pipeline.limits``; ``limit`` names it."""

    def __init__(self, what: str, limit: str):
        self.limit = limit
        super().__init__(f"{what}: over the limit of {limit}")


def _regex_options() -> re2.Options:
    options = re2.Options()
    options.max_mem = limits.MAX_REGEX_MEMORY
    options.log_errors = False  # an invalid pattern is reported to the user, not logged
    return options


_RE2_OPTIONS = _regex_options()


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
        if len(text) > limits.MAX_EXPRESSION_BYTES:
            raise ExpressionTooComplex(
                f"the evaluate expression has {len(text)} characters",
                f"{limits.MAX_EXPRESSION_BYTES} characters per evaluate expression",
            )
        self.tokens = _tokens(text)
        self.pos = 0
        self.depth = 0

    def nest(self) -> None:
        """Enter one more level of parentheses, ``!`` or list; refuse past the limit."""
        self.depth += 1
        if self.depth > limits.MAX_EXPRESSION_DEPTH:
            raise ExpressionTooComplex(
                "the evaluate expression is nested too deeply",
                f"{limits.MAX_EXPRESSION_DEPTH} levels of nesting per evaluate expression",
            )

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

    # A chain ``a && b && c`` is one flat node, so its length adds no depth to evaluate.
    def or_(self) -> Any:
        items = [self.and_()]
        while self.peek()[1] in ("||", "or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else ("or", items)

    def and_(self) -> Any:
        items = [self.not_()]
        while self.peek()[1] in ("&&", "and"):
            self.take()
            items.append(self.not_())
        return items[0] if len(items) == 1 else ("and", items)

    def not_(self) -> Any:
        if self.peek()[1] in ("!", "not"):
            self.take()
            self.nest()
            inner = self.not_()
            self.depth -= 1
            return ("not", inner)
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
            self.nest()
            inner = self.or_()
            self.expect(")")
            self.depth -= 1
            return inner
        if value == "[":
            self.nest()
            items = []
            while self.peek()[1] != "]":
                items.append(self.primary())
                if self.peek()[1] == ",":
                    self.take()
                elif self.peek()[1] != "]":
                    raise ExpressionError("expected , or ] in a list of the evaluate expression")
            self.take()
            self.depth -= 1
            return ("list", items)
        if kind == "word":
            if value in ("true", "false"):
                return ("lit", value == "true")
            return ("var", value)
        raise ExpressionError(f"unexpected {value or 'end'!r} in evaluate expression")


def parse_expression(text: str) -> Any:
    """Parse ``text``; raise ``ExpressionError`` when it is not understood (a literal
    ``matches`` pattern RE2 refuses included), ``ExpressionTooComplex`` when it is over a
    budget (a literal pattern that needs more than ``limits.MAX_REGEX_MEMORY`` included)."""
    tree = _Parser(text).parse()
    pending = [tree]
    while pending:
        node = pending.pop()
        if node[0] == "matches" and node[2][0] == "lit":
            _regex(node[2][1])
        elif node[0] in ("and", "or", "list"):
            pending.extend(node[1])
        elif node[0] == "not":
            pending.append(node[1])
    return tree


def _regex(pattern: Any) -> Any:
    try:
        return re2.compile(str(pattern), _RE2_OPTIONS)
    except (re2.error, UnicodeError) as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        if "too large" in str(reason):
            raise ExpressionTooComplex(
                f"the regular expression {pattern!r} needs too much memory",
                f"{limits.MAX_REGEX_MEMORY} bytes of regular expression memory",
            ) from None
        raise ExpressionError(f"invalid regular expression {pattern!r}: {reason}") from None


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
        return all(_eval(item, env) for item in node[1])
    if op == "or":
        return any(_eval(item, env) for item in node[1])
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
            return _regex(right).search(str(left)) is not None
        except UnicodeError:
            return False  # a value RE2 cannot read (a lone surrogate) matches no pattern
    if op == "in":
        return left in right if isinstance(right, (list, dict)) else str(left) in str(right)
    raise ExpressionError(f"unknown operator {op!r}")
