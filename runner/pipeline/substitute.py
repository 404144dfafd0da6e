"""Drone-style substitution on the raw text of a pipeline file, before it is parsed.

Only the braced form is replaced: ``${VAR}`` and ``${VAR<op>}`` with the operators
``#``, ``##``, ``%``, ``%%`` (shell patterns), ``^``, ``^^``, ``,``, ``,,`` (case), ``:n`` and
``:n:len`` (substring), ``=``, ``:=``, ``-``, ``:-`` (defaults), ``+``, ``:+`` (alternative),
``/p/r`` and ``//p/r`` (replace), and ``${#VAR}`` (length). ``$$`` is an escaped ``$``, so
``$${VAR}`` reaches the shell as ``${VAR}``; a bare ``$VAR`` is left alone for the shell.
An unknown variable is empty. A value holding a newline is inserted double-quoted and escaped,
as Drone does, so it cannot break the YAML around it.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, NamedTuple

import re2

from runner.errors import BudgetExceeded, SubstitutionError
from runner.pipeline import limits

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBSTRING = re.compile(r"^:\s*(-?\d+)(?::(\d+))?$")


def substitute(
    text: str,
    variables: dict[str, str],
    *,
    file: str = "",
    _depth: int = 0,
    _line: int = 1,
    _budget: int = limits.MAX_SUBSTITUTED_BYTES,
) -> str:
    """Return ``text`` with every ``${...}`` expression replaced.

    Raises ``SubstitutionError`` (with the line) for an unterminated or malformed expression,
    ``BudgetExceeded`` when ``${...}`` are nested deeper than ``limits.MAX_SUBSTITUTION_DEPTH``
    or the result is larger than ``limits.MAX_SUBSTITUTED_BYTES``.
    Pure: no environment is read besides ``variables``.
    """
    out: list[str] = []
    size = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "$":
            j = text.find("$", i)
            if j < 0:
                out.append(text[i:])
                break
            out.append(text[i:j])
            i = j
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2)
            line = _line + text.count("\n", 0, i)
            if end < 0:
                snippet = text[i : text.find("}", i) + 1 or i + 20]
                raise _error("unterminated ${ expression: add the closing }", snippet, line, file)
            where = _Where(file, line, _depth, _budget - size)
            value = _evaluate(text[i + 2 : end], variables, where)
            if "\n" in value:
                value = json.dumps(value, ensure_ascii=False)
            out.append(value)
            size += len(value)
            if size > _budget:
                raise _too_large(where)
            i = end + 1
        else:
            out.append("$")
            i += 1
    return "".join(out)


class _Where(NamedTuple):
    """Where an expression is evaluated: its file and line, how deep inside other ``${...}``,
    and how many bytes of output the file may still grow by."""

    file: str
    line: int
    depth: int
    budget: int


def _too_large(where: _Where) -> BudgetExceeded:
    return limits.over_budget(
        "the file grows too large by substitution",
        limits.MAX_SUBSTITUTED_BYTES,
        "bytes after substitution",
        file=where.file,
        line=where.line,
        fix="use fewer or shorter ${...} values",
    )


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\n":
            return -1
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _error(message: str, snippet: str, line: int, file: str) -> SubstitutionError:
    return SubstitutionError(f"{message} (in {snippet!r})", file=file, line=line)


def _evaluate(expr: str, variables: dict[str, str], where: _Where) -> str:
    file, line, depth = where.file, where.line, where.depth
    if expr.startswith("#"):
        match = _NAME.fullmatch(expr[1:])
        if not match:
            raise _error("invalid ${#VAR} length expression", "${" + expr + "}", line, file)
        return str(len(variables.get(expr[1:], "")))
    match = _NAME.match(expr)
    if not match:
        raise _error(
            "invalid substitution: ${...} must start with a variable name "
            "(write $${...} to pass it to the shell unchanged)",
            "${" + expr + "}",
            line,
            file,
        )
    name = match.group(0)
    op = expr[match.end() :]
    is_set = name in variables
    value = variables.get(name, "")
    if not op:
        return value

    def nested(arg: str) -> str:
        if "${" not in arg:
            return arg
        if depth + 1 >= limits.MAX_SUBSTITUTION_DEPTH:
            raise limits.over_budget(
                "${...} nested too deeply",
                limits.MAX_SUBSTITUTION_DEPTH,
                "levels of nested ${...}",
                file=file,
                line=line,
            )
        return substitute(
            arg, variables, file=file, _depth=depth + 1, _line=line, _budget=where.budget
        )

    for prefix, needs_value in ((":-", True), (":=", True), ("-", False), ("=", False)):
        if op.startswith(prefix):
            missing = not value if needs_value else not is_set
            return nested(op[len(prefix) :]) if missing else value
    for prefix, needs_value in ((":+", True), ("+", False)):
        if op.startswith(prefix):
            present = bool(value) if needs_value else is_set
            return nested(op[len(prefix) :]) if present else ""
    if op.startswith("##"):
        return _strip_prefix(value, nested(op[2:]), longest=True)
    if op.startswith("#"):
        return _strip_prefix(value, nested(op[1:]), longest=False)
    if op.startswith("%%"):
        return _strip_suffix(value, nested(op[2:]), longest=True)
    if op.startswith("%"):
        return _strip_suffix(value, nested(op[1:]), longest=False)
    if op == "^^":
        return value.upper()
    if op == "^":
        return value[:1].upper() + value[1:]
    if op == ",,":
        return value.lower()
    if op == ",":
        return value[:1].lower() + value[1:]
    if op.startswith("//") or op.startswith("/"):
        replace_all = op.startswith("//")
        body = op[2:] if replace_all else op[1:]
        pattern, _, replacement = body.partition("/")
        return _replace(value, nested(pattern), nested(replacement), replace_all, where)
    sub = _SUBSTRING.match(op)
    if sub:
        offset = int(sub.group(1))
        if offset < 0:
            offset = max(len(value) + offset, 0)
        if sub.group(2) is None:
            return value[offset:]
        return value[offset : offset + int(sub.group(2))]
    raise _error(
        f"unsupported operator {op!r} in ${{{expr}}}: use one of # ## % %% ^ ^^ , ,, "
        ":n :n:len = := :- /p/r //p/r, or write $${...} to leave it to the shell",
        "${" + expr + "}",
        line,
        file,
    )


# Shell patterns run on RE2, in time linear in the value: the obvious way (try every prefix
# length with a regular expression) is quadratic, and a 64 KB commit message made one
# `${DRONE_COMMIT_MESSAGE#*y}` cost seconds. A star is lazy for the shortest match (RE2's
# leftmost-first order then gives the shortest prefix a glob can match) and greedy under
# leftmost-longest for the longest; suffixes are prefixes of the reversed value.
_STAR = object()


def _options(longest: bool) -> re2.Options:
    options = re2.Options()
    options.longest_match = longest
    options.max_mem = limits.MAX_REGEX_MEMORY
    options.log_errors = False
    return options


_FIRST, _LONGEST = _options(False), _options(True)


def _glob_pieces(pattern: str) -> list[str | object]:
    """``pattern`` (``*``, ``?``, ``[...]``, ``[!...]``) as RE2 pieces; ``_STAR`` for ``*``."""
    pieces: list[str | object] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            pieces.append(_STAR)
        elif ch == "?":
            pieces.append(".")
        elif ch == "[":
            end = i + 1 if i < n and pattern[i] in "!^" else i
            end = end + 1 if end < n and pattern[end] == "]" else end
            end = pattern.find("]", end)
            if end < 0:
                pieces.append(re2.escape("["))
                continue
            body = pattern[i:end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            escaped = "".join("\\" + c if c in "\\[]^" else c for c in body)
            pieces.append(f"[{'^' if negate else ''}{escaped}]")
            i = end + 1
        else:
            pieces.append(re2.escape(ch))
    return pieces


@functools.lru_cache(maxsize=256)
def _glob(pattern: str, longest: bool, reverse: bool = False) -> Any:
    pieces = _glob_pieces(pattern)
    if reverse:
        pieces.reverse()
    star = ".*" if longest else ".*?"
    body = "".join(star if p is _STAR else str(p) for p in pieces)
    try:
        return re2.compile(f"(?s:{body})", _LONGEST if longest else _FIRST)
    except re2.error:
        return None


def _prefix_end(value: str, pattern: str, *, longest: bool, reverse: bool = False) -> int:
    """Length of the shortest (longest) prefix of ``value`` that ``pattern`` matches, or -1."""
    regex = _glob(pattern, longest, reverse)
    if regex is None:
        return -1  # a pattern RE2 refuses (``[z-a]``) matches nothing, as in the shell
    try:
        match = regex.match(value)
    except UnicodeError:
        return -1  # a lone surrogate cannot be matched; the value stays as it is
    return match.end() if match else -1


def _strip_prefix(value: str, pattern: str, *, longest: bool) -> str:
    end = _prefix_end(value, pattern, longest=longest)
    return value if end < 0 else value[end:]


def _strip_suffix(value: str, pattern: str, *, longest: bool) -> str:
    end = _prefix_end(value[::-1], pattern, longest=longest, reverse=True)
    return value if end < 0 else value[: len(value) - end]


def _replace(value: str, pattern: str, replacement: str, replace_all: bool, where: _Where) -> str:
    """``value`` with the first (every) match of shell pattern ``pattern`` replaced. The size
    of the result is counted before it is built: ``${X//?/${X}}`` squares the length of X."""
    if not pattern:
        return value
    if not any(c in pattern for c in "*?["):
        count = value.count(pattern) if replace_all else int(pattern in value)
        if len(value) + count * (len(replacement) - len(pattern)) > where.budget:
            raise _too_large(where)
        return value.replace(pattern, replacement, -1 if replace_all else 1)
    regex = _glob(pattern, True)
    if regex is None:
        return value
    # What re2's sub does, with the size counted at each match before anything is joined.
    pieces: list[str] = []
    size = end = 0
    try:
        for match in regex.finditer(value):
            kept = value[end : match.start()]
            size += len(kept) + len(replacement)
            if size + len(value) - match.end() > where.budget:
                raise _too_large(where)
            pieces += (kept, replacement)
            end = match.end()
            if not replace_all:
                break
    except UnicodeError:
        return value
    pieces.append(value[end:])
    return "".join(pieces)
