"""A Pratt parser for expr-lang (expr-lang/expr parser/parser.go: ``parseExpression``,
``parsePrimary``, ``parseConditional``, ``parsePostfixExpression``), into tuples.

Precedence and associativity are expr-lang's (parser/operator/operator.go): ``or ||`` 10,
``and &&`` 15, comparisons and ``in matches contains startsWith endsWith`` 20, ``..`` 25,
``+ -`` 30, ``* / %`` 60, ``** ^`` 100 (right), ``??`` 500; unary ``not !`` 50 and
``- +`` 90; the ternary ``?:`` below them all. ``a not in b`` (and ``not`` before
``contains``, ``matches``, ``startsWith``, ``endsWith``) is ``not (a in b)``. ``x | f(y)`` is
``f(x, y)``. The predicate of ``all``, ``filter``... is a closure, in braces or not, where
``#`` is the element and ``.name`` its field.

Nesting is bounded by ``limits.MAX_EXPRESSION_DEPTH``: each parenthesis, operand of a unary
or right-associative operator, list, map, call and postfix access counts one level while it
is read; a chain ``a && b && c ...`` of left-associative operators does not nest.

Nodes: ``("lit", v)``, ``("var", name)``, ``("ptr", name)``, ``("array", [n])``,
``("map", [(k, v)])``, ``("unary", op, n)``, ``("bin", op, l, r)``, ``("cond", c, a, b)``,
``("member", n, key, optional)``, ``("slice", n, lo, hi)``, ``("call", name, [n])``,
``("closure", n)``, ``("let", name, value, body)``.
"""

from __future__ import annotations

from typing import Any

from runner.pipeline import limits
from runner.pipeline.expr.errors import ExpressionError, ExpressionTooComplex
from runner.pipeline.expr.lexer import (
    EOF,
    NAME,
    NUMBER,
    OPERATOR,
    POINTER,
    STRING,
    Token,
    tokenize,
)

Node = tuple[Any, ...]

LEFT, RIGHT = "left", "right"
BINARY: dict[str, tuple[int, str]] = {
    "|": (0, LEFT),
    "or": (10, LEFT),
    "||": (10, LEFT),
    "and": (15, LEFT),
    "&&": (15, LEFT),
    "==": (20, LEFT),
    "!=": (20, LEFT),
    "<": (20, LEFT),
    ">": (20, LEFT),
    ">=": (20, LEFT),
    "<=": (20, LEFT),
    "in": (20, LEFT),
    "matches": (20, LEFT),
    "contains": (20, LEFT),
    "startsWith": (20, LEFT),
    "endsWith": (20, LEFT),
    "..": (25, LEFT),
    "+": (30, LEFT),
    "-": (30, LEFT),
    "*": (60, LEFT),
    "/": (60, LEFT),
    "%": (60, LEFT),
    "**": (100, RIGHT),
    "^": (100, RIGHT),
    "??": (500, LEFT),
}
UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
NEGATABLE = ("contains", "matches", "startsWith", "endsWith", "in")
# Functions whose last argument is a predicate (a closure over `#`).
PREDICATES = frozenset(
    (
        "all",
        "any",
        "none",
        "one",
        "filter",
        "map",
        "count",
        "find",
        "findIndex",
        "findLast",
        "findLastIndex",
    )
)


def parse(text: str) -> Node:
    """The syntax tree of ``text``; ``ExpressionError`` naming the offset when it does not
    parse, ``ExpressionTooComplex`` when it is too long or too deeply nested."""
    if len(text) > limits.MAX_EXPRESSION_BYTES:
        raise ExpressionTooComplex(
            f"the evaluate expression has {len(text)} characters",
            f"{limits.MAX_EXPRESSION_BYTES} characters per evaluate expression",
        )
    parser = _Parser(tokenize(text))
    tree = parser.expression(0)
    if parser.current.kind != EOF:
        raise parser.unexpected()
    return tree


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.closures = 0  # inside a predicate: `#` and `.name` are allowed

    @property
    def current(self) -> Token:
        return self.tokens[self.pos]

    def peek(self) -> Token:
        return self.tokens[min(self.pos + 1, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.current
        if token.kind != EOF:
            self.pos += 1
        return token

    def expect(self, value: str) -> None:
        if not self.current.is_op(value):
            raise self.unexpected(f"expected {value!r}")
        self.advance()

    def unexpected(self, hint: str = "", token: Token | None = None) -> ExpressionError:
        token = token or self.current
        what = "end of expression" if token.kind == EOF else f"{token.value!r}"
        extra = f" ({hint})" if hint else ""
        return ExpressionError(f"unexpected {what} at offset {token.pos}{extra}")

    def nest(self) -> None:
        self.depth += 1
        if self.depth > limits.MAX_EXPRESSION_DEPTH:
            raise ExpressionTooComplex(
                "the evaluate expression is nested too deeply",
                f"{limits.MAX_EXPRESSION_DEPTH} levels of nesting per evaluate expression",
            )

    def expression(self, precedence: int) -> Node:
        self.nest()
        if precedence == 0 and self.current.is_op("let"):
            node = self.let()
            self.depth -= 1
            return node
        left = self.primary()
        while self.current.kind == OPERATOR:
            token = self.current
            op = str(token.value)
            negate = op == "not" and self.peek().is_op(*NEGATABLE)
            if negate:
                op = str(self.peek().value)
            info = BINARY.get(op)
            if info is None or info[0] < precedence or (op == "not" and not negate):
                break
            self.advance()
            if negate:
                self.advance()
            if op == "|":
                left = self.pipe(left)
                continue
            prec, assoc = info
            right = self.expression(prec + 1 if assoc == LEFT else prec)
            left = ("bin", op, left, right)
            if negate:
                left = ("unary", "not", left)
        if precedence == 0:
            left = self.conditional(left)
        self.depth -= 1
        return left

    def let(self) -> Node:
        self.advance()
        name = self.advance()
        if name.kind != NAME:
            raise ExpressionError(f"expected a variable name after let at offset {name.pos}")
        self.expect("=")
        value = self.expression(0)
        self.expect(";")
        return ("let", str(name.value), value, self.expression(0))

    def conditional(self, node: Node) -> Node:
        while self.current.is_op("?"):
            self.advance()
            if self.current.is_op(":"):
                self.advance()
                node = ("cond", node, node, self.expression(0))
                continue
            then = self.expression(0)
            self.expect(":")
            node = ("cond", node, then, self.expression(0))
        return node

    def pipe(self, left: Node) -> Node:
        name = self.advance()
        if name.kind != NAME:
            raise ExpressionError(f"expected a function after | at offset {name.pos}")
        return self.postfix(self.call(str(name.value), [left]))

    def primary(self) -> Node:
        token = self.current
        if token.kind == OPERATOR and token.value in UNARY:
            self.advance()
            operand = self.expression(UNARY[str(token.value)])
            return self.postfix(("unary", token.value, operand))
        if token.is_op("("):
            self.advance()
            inner = self.expression(0)
            self.expect(")")
            return self.postfix(inner)
        if self.closures and token.kind == POINTER:
            self.advance()
            return self.postfix(("ptr", token.value))
        if self.closures and token.is_op(".") and self.peek().kind == NAME:
            self.advance()
            name = self.advance()
            return self.postfix(("member", ("ptr", ""), ("lit", name.value), False))
        return self.postfix(self.secondary())

    def secondary(self) -> Node:
        token = self.advance()
        if token.kind in (NUMBER, STRING):
            return ("lit", token.value)
        if token.kind == NAME:
            name = str(token.value)
            if self.current.is_op("("):
                return self.call(name, [])
            literals: dict[str, Any] = {"true": True, "false": False, "nil": None}
            return ("lit", literals[name]) if name in literals else ("var", name)
        if token.is_op("["):
            return ("array", self.items("]"))
        if token.is_op("{"):
            return self.map_literal()
        if token.kind == POINTER:
            raise ExpressionError(f"# is only allowed in a predicate, at offset {token.pos}")
        raise self.unexpected(token=token)

    def items(self, close: str) -> list[Node]:
        self.nest()
        out: list[Node] = []
        while not self.current.is_op(close):
            out.append(self.expression(0))
            if not self.current.is_op(","):
                break
            self.advance()
        self.expect(close)
        self.depth -= 1
        return out

    def map_literal(self) -> Node:
        self.nest()
        pairs: list[tuple[Node, Node]] = []
        while not self.current.is_op("}"):
            key = self.current
            word = key.kind == OPERATOR and str(key.value).isalpha()  # `{in: 1}` is a key
            if key.kind in (NAME, STRING, NUMBER) or word:
                self.advance()
                key_node: Node = ("lit", key.value)
            elif key.is_op("("):
                self.advance()
                key_node = self.expression(0)
                self.expect(")")
            else:
                raise self.unexpected("expected a map key")
            self.expect(":")
            pairs.append((key_node, self.expression(0)))
            if not self.current.is_op(","):
                break
            self.advance()
        self.expect("}")
        self.depth -= 1
        return ("map", pairs)

    def call(self, name: str, args: list[Node]) -> Node:
        self.nest()
        self.expect("(")
        while not self.current.is_op(")"):
            if name in PREDICATES and args:
                args.append(self.closure())
            else:
                args.append(self.expression(0))
            if not self.current.is_op(","):
                break
            self.advance()
        self.expect(")")
        self.depth -= 1
        return ("call", name, args)

    def closure(self) -> Node:
        self.closures += 1
        braces = self.current.is_op("{")
        if braces:
            self.advance()
        body = self.expression(0)
        if braces:
            self.expect("}")
        self.closures -= 1
        return ("closure", body)

    def postfix(self, node: Node) -> Node:
        levels = 0
        while True:
            token = self.current
            optional = token.is_op("?.")
            if token.is_op(".", "?.") and self.peek().kind in (NAME, OPERATOR):
                self.advance()
                name = self.advance()
                if not str(name.value).replace("_", "a").replace("$", "a").isalnum():
                    raise ExpressionError(f"expected a field name at offset {name.pos}")
                node = ("member", node, ("lit", name.value), optional)
            elif token.is_op("[") or (optional and self.peek().is_op("[")):
                self.advance()
                if optional:
                    self.advance()
                node = self.index(node, optional)
            else:
                break
            if self.current.is_op("("):
                raise self.unexpected("methods cannot be called here")
            levels += 1
            self.nest()
        self.depth -= levels
        return node

    def index(self, node: Node, optional: bool) -> Node:
        low: Node | None = None
        if not self.current.is_op(":"):
            low = self.expression(0)
            if self.current.is_op("]"):
                self.advance()
                return ("member", node, low, optional)
        self.expect(":")
        high = None if self.current.is_op("]") else self.expression(0)
        self.expect("]")
        return ("slice", node, low, high)
