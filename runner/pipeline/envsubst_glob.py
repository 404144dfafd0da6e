"""The patterns of ``${VAR#p}``, ``${VAR##p}``, ``${VAR%p}`` and ``${VAR%%p}``, as drone/envsubst
reads them (its ``path.Match``: ``*`` is any text, ``/`` included, ``?`` one character,
``[...]`` / ``[^...]`` a class with ranges, ``\\c`` the character c).

envsubst tries each prefix of the value from the longest to the shortest; here the pattern
runs on RE2, in time linear in the value: that way was quadratic, and a 64 KB commit message
made one ``${DRONE_COMMIT_MESSAGE#*y}`` cost seconds. A star is lazy for the shortest match
(RE2's leftmost-first order then gives the shortest prefix a glob can match) and greedy under
leftmost-longest for the longest. A suffix is a prefix of the reversed value matched by the
reversed pattern, as envsubst does it (so a class such as ``[a-z]`` reversed is malformed
there and here, and leaves the value as it is).
"""

from __future__ import annotations

import functools
from typing import Any

import re2

from runner.pipeline import limits

_STAR = object()


def _options(longest: bool) -> re2.Options:
    options = re2.Options()
    options.longest_match = longest
    options.max_mem = limits.MAX_REGEX_MEMORY
    options.log_errors = False
    return options


_FIRST, _LONGEST = _options(False), _options(True)


def _class_char(pattern: str, i: int) -> tuple[str, int] | None:
    """One character of a class at ``pattern[i]`` (``\\c`` for c); None when malformed."""
    if i >= len(pattern) or pattern[i] in "-]":
        return None
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            return None
    return pattern[i], i + 1


def _class(pattern: str, i: int) -> tuple[str, int] | None:
    """The RE2 class of the ``[...]`` whose body starts at ``pattern[i]`` and the index after
    its ``]``; None when it is malformed (envsubst's ErrBadPattern)."""
    negate = i < len(pattern) and pattern[i] == "^"
    i += negate
    ranges: list[str] = []
    while True:
        if i < len(pattern) and pattern[i] == "]" and ranges:
            break
        low = _class_char(pattern, i)
        if low is None:
            return None
        lo, i = low
        hi = lo
        if i < len(pattern) and pattern[i] == "-":
            high = _class_char(pattern, i + 1)
            if high is None:
                return None
            hi, i = high
        if i >= len(pattern):
            return None
        ranges.append(re2.escape(lo) if lo == hi else f"{re2.escape(lo)}-{re2.escape(hi)}")
    return f"[{'^' if negate else ''}{''.join(ranges)}]", i + 1


def _pieces(pattern: str) -> list[str | object] | None:
    """``pattern`` as RE2 pieces (``_STAR`` for ``*``); None when it is malformed."""
    pieces: list[str | object] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            pieces.append(_STAR)
        elif ch == "?":
            pieces.append(".")
        elif ch == "[":
            found = _class(pattern, i)
            if found is None:
                return None
            piece, i = found
            pieces.append(piece)
        elif ch == "\\":
            if i >= len(pattern):
                return None
            pieces.append(re2.escape(pattern[i]))
            i += 1
        else:
            pieces.append(re2.escape(ch))
    return pieces


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str, longest: bool) -> tuple[Any, bool] | None:
    """The RE2 program of ``pattern`` and whether it is only stars (so it matches the empty
    text); None when the pattern is malformed or refused by RE2 (``[z-a]``)."""
    pieces = _pieces(pattern)
    if pieces is None:
        return None
    star = ".*" if longest else ".*?"
    body = "".join(star if p is _STAR else str(p) for p in pieces)
    try:
        regex = re2.compile(f"(?s:{body})", _LONGEST if longest else _FIRST)
    except re2.error:
        return None
    return regex, all(p is _STAR for p in pieces)


def matched_prefix(value: str, pattern: str, *, longest: bool) -> int:
    """Length of the shortest (longest) non-empty prefix of ``value`` that ``pattern`` matches
    whole, or 0 when none does: envsubst never tries the empty prefix."""
    if not value:
        return 0
    compiled = _compiled(pattern, longest)
    if compiled is None:
        return 0
    regex, only_stars = compiled
    if only_stars:
        return len(value) if longest else 1
    try:
        match = regex.match(value)
    except UnicodeError:
        return 0  # a lone surrogate cannot be matched; the value stays as it is
    return match.end() if match else 0


def trim_prefix(value: str, pattern: str, *, longest: bool) -> str:
    """``${VAR#pattern}`` (``##`` with ``longest``)."""
    return value[matched_prefix(value, pattern, longest=longest) :]


def trim_suffix(value: str, pattern: str, *, longest: bool) -> str:
    """``${VAR%pattern}`` (``%%`` with ``longest``): the prefix rule on the reversed value and
    the reversed pattern."""
    cut = matched_prefix(value[::-1], pattern[::-1], longest=longest)
    return value[: len(value) - cut]
