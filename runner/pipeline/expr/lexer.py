"""Tokens of an expr-lang expression (expr-lang/expr parser/lexer/state.go, lexer.go).

Numbers (``42``, ``0x2A``, ``0o52``, ``0b101010``, ``1_000``, ``0.5``, ``.5``, ``1e3``),
strings in double or single quotes with Go escapes, raw strings in backticks, names
(``$env`` included), ``#`` pointers (``#``, ``#acc``, ``#index``), operators and comments
(``//`` and ``/* */``). ``1..3`` is a range, not the float ``1.``.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.pipeline.expr.errors import ExpressionError

NUMBER = "number"
STRING = "string"
NAME = "name"
POINTER = "pointer"
OPERATOR = "operator"
BRACKET = "bracket"
EOF = "eof"

# Longest first, so ``**`` is not read as two ``*``.
_OPERATORS = (
    "?.",
    "??",
    "..",
    "**",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "!",
    "?",
    ":",
    ".",
    ",",
    "|",
    ";",
    "=",
)
WORD_OPERATORS = frozenset(
    ("not", "and", "or", "in", "matches", "contains", "startsWith", "endsWith", "let")
)
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
}


@dataclass(frozen=True)
class Token:
    """One token: its kind, its value (text, or the number for ``number``) and offset."""

    kind: str
    value: object
    pos: int

    def is_op(self, *values: str) -> bool:
        """True for an operator (symbol or word) or bracket that is one of ``values``."""
        return self.kind in (OPERATOR, BRACKET) and self.value in values


def tokenize(text: str) -> list[Token]:
    """Every token of ``text``, ending with one ``eof`` token; ``ExpressionError`` with the
    offset for a character or literal the language does not have."""
    out: list[Token] = []
    pos = 0
    size = len(text)
    while pos < size:
        char = text[pos]
        if char.isspace():
            pos += 1
        elif text.startswith("//", pos):
            end = text.find("\n", pos)
            pos = size if end < 0 else end + 1
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise ExpressionError(f"unclosed comment at offset {pos}")
            pos = end + 2
        elif char.isdigit() or (char == "." and pos + 1 < size and text[pos + 1].isdigit()):
            pos = _number(text, pos, out)
        elif char in "\"'":
            pos = _quoted(text, pos, out)
        elif char == "`":
            end = text.find("`", pos + 1)
            if end < 0:
                raise ExpressionError(f"unclosed raw string at offset {pos}")
            out.append(Token(STRING, text[pos + 1 : end], pos))
            pos = end + 1
        elif char == "#":
            end = _name_end(text, pos + 1)
            out.append(Token(POINTER, text[pos + 1 : end], pos))
            pos = end
        elif char.isalpha() or char in "_$":
            end = _name_end(text, pos + 1)
            word = text[pos:end]
            out.append(Token(OPERATOR if word in WORD_OPERATORS else NAME, word, pos))
            pos = end
        elif char in "()[]{}":
            out.append(Token(BRACKET, char, pos))
            pos += 1
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, pos)), None)
            if op is None:
                raise ExpressionError(f"unrecognized character {char!r} at offset {pos}")
            out.append(Token(OPERATOR, op, pos))
            pos += len(op)
    out.append(Token(EOF, "", size))
    return out


def _name_end(text: str, pos: int) -> int:
    while pos < len(text) and (text[pos].isalnum() or text[pos] in "_$"):
        pos += 1
    return pos


def _number(text: str, start: int, out: list[Token]) -> int:
    pos = start
    size = len(text)
    if text.startswith(("0x", "0X", "0o", "0O", "0b", "0B"), pos):
        base = {"x": 16, "o": 8, "b": 2}[text[pos + 1].lower()]
        pos += 2
        while pos < size and (text[pos].isalnum() or text[pos] == "_"):
            pos += 1
        try:
            out.append(Token(NUMBER, int(text[start + 2 : pos].replace("_", ""), base), start))
        except ValueError:
            raise ExpressionError(f"invalid number {text[start:pos]!r}") from None
        return pos
    is_float = False
    while pos < size and (text[pos].isdigit() or text[pos] == "_"):
        pos += 1
    # A "." starts a fraction unless it is the range operator "..".
    if pos < size and text[pos] == "." and not text.startswith("..", pos):
        is_float = True
        pos += 1
        while pos < size and (text[pos].isdigit() or text[pos] == "_"):
            pos += 1
    if pos < size and text[pos] in "eE":
        is_float = True
        pos += 1
        if pos < size and text[pos] in "+-":
            pos += 1
        while pos < size and text[pos].isdigit():
            pos += 1
    if pos < size and (text[pos].isalpha() or text[pos] == "_"):
        raise ExpressionError(f"invalid number {text[start : pos + 1]!r}")
    literal = text[start:pos].replace("_", "")
    try:
        value: object = float(literal) if is_float else int(literal)
    except ValueError:
        raise ExpressionError(f"invalid number {text[start:pos]!r}") from None
    out.append(Token(NUMBER, value, start))
    return pos


def _quoted(text: str, start: int, out: list[Token]) -> int:
    quote = text[start]
    pos = start + 1
    parts: list[str] = []
    while True:
        if pos >= len(text) or text[pos] == "\n":
            raise ExpressionError(f"literal not terminated at offset {start}")
        char = text[pos]
        if char == quote:
            out.append(Token(STRING, "".join(parts), start))
            return pos + 1
        if char != "\\":
            parts.append(char)
            pos += 1
            continue
        pos += 1
        escape = text[pos : pos + 1]
        if escape in _ESCAPES:
            parts.append(_ESCAPES[escape])
            pos += 1
        elif escape in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[escape]
            digits = text[pos + 1 : pos + 1 + width]
            try:
                parts.append(chr(int(digits, 16)))
            except ValueError:
                raise ExpressionError(f"invalid escape \\{escape}{digits} at {pos}") from None
            pos += 1 + width
        elif escape.isdigit():
            digits = text[pos : pos + 3]
            try:
                parts.append(chr(int(digits, 8)))
            except ValueError:
                raise ExpressionError(f"invalid escape \\{digits} at offset {pos}") from None
            pos += 3
        else:
            raise ExpressionError(f"invalid escape \\{escape} at offset {pos}")
