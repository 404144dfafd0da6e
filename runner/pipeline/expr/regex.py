"""``matches``: RE2, as Go's ``regexp.MatchString`` that expr-lang calls (vm/runtime:
``Matches`` via ``regexp.MatchString``): linear time, no backreferences or lookaround."""

from __future__ import annotations

import functools
from typing import Any

import re2

from runner.pipeline import limits
from runner.pipeline.expr.errors import ExpressionError, ExpressionTooComplex


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = limits.MAX_REGEX_MEMORY
    options.log_errors = False  # an invalid pattern is reported to the user, not logged
    return options


_RE2_OPTIONS = _options()


@functools.lru_cache(maxsize=64)
def compile_regex(pattern: str) -> Any:
    """The compiled pattern; ``ExpressionError`` for syntax RE2 refuses (backreferences,
    lookaround), ``ExpressionTooComplex`` over ``limits.MAX_REGEX_MEMORY``."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
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


def matches(text: str, pattern: str) -> bool:
    """True when ``pattern`` matches anywhere in ``text`` (Go's ``MatchString``)."""
    try:
        return compile_regex(pattern).search(text) is not None
    except UnicodeError:
        return False  # a value RE2 cannot read (a lone surrogate) matches no pattern
