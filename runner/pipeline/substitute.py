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

import fnmatch
import json
import re

from runner.errors import SubstitutionError
from runner.pipeline import limits

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBSTRING = re.compile(r"^:\s*(-?\d+)(?::(\d+))?$")


def substitute(
    text: str, variables: dict[str, str], *, file: str = "", _depth: int = 0, _line: int = 1
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
            value = _evaluate(text[i + 2 : end], variables, line, file, _depth)
            if "\n" in value:
                value = json.dumps(value, ensure_ascii=False)
            out.append(value)
            size += len(value)
            if size > limits.MAX_SUBSTITUTED_BYTES:
                raise limits.over_budget(
                    "the file grows too large by substitution",
                    limits.MAX_SUBSTITUTED_BYTES,
                    "bytes after substitution",
                    file=file,
                    line=line,
                    fix="use fewer or shorter ${...} values",
                )
            i = end + 1
        else:
            out.append("$")
            i += 1
    return "".join(out)


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


def _evaluate(expr: str, variables: dict[str, str], line: int, file: str, depth: int) -> str:
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
        return substitute(arg, variables, file=file, _depth=depth + 1, _line=line)

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
        return _replace(value, nested(pattern), nested(replacement), replace_all)
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


def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.DOTALL)


def _strip_prefix(value: str, pattern: str, *, longest: bool) -> str:
    regex = _pattern(pattern)
    lengths = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for length in lengths:
        if regex.match(value[:length]):
            return value[length:]
    return value


def _strip_suffix(value: str, pattern: str, *, longest: bool) -> str:
    regex = _pattern(pattern)
    starts = range(len(value) + 1) if longest else range(len(value), -1, -1)
    for start in starts:
        if regex.match(value[start:]):
            return value[:start]
    return value


def _replace(value: str, pattern: str, replacement: str, replace_all: bool) -> str:
    if not pattern:
        return value
    if not any(c in pattern for c in "*?["):
        return value.replace(pattern, replacement, -1 if replace_all else 1)
    regex = re.compile(fnmatch.translate(pattern)[4:-3], re.DOTALL)
    return regex.sub(replacement.replace("\\", "\\\\"), value, count=0 if replace_all else 1)
