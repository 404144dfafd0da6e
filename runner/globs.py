"""The one glob dialect of the runner: doublestar, as Drone and Woodpecker match ``when: branch``.

Every pattern a person writes is matched here: ``when``/``trigger`` conditions (branch, ref,
event, repo, paths, ...), environments' ``branches`` and ``tags``, a secret's ``images``, the
agents' privileged-image list, agent label values and the repository allow-lists of agents.

- ``*`` matches any run of characters but ``/``; ``?`` one character but ``/``;
- ``**`` as a whole path segment crosses ``/`` (``feature/**`` matches ``feature/a/b``);
- ``[abc]``, ``[a-z]`` and ``[!a]`` classes, ``{a,b}`` alternatives; a leading ``.`` is an
  ordinary character; case counts.

This is the dialect of drone/runner-go (manifest/cond.go: ``Condition.Includes`` calls
``doublestar.Match``) and of Woodpecker (pipeline/frontend/yaml/constraint/list.go:
``List.Includes`` calls ``doublestar.Match``): ``feature/*`` matches ``feature/a`` but not
``feature/a/b``. A malformed pattern matches nothing (only its exact text), as Go's
``path.Match`` answers ``ErrBadPattern``. Pure.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from wcmatch import glob

_MAGIC = re.compile(r"[*?\[{\\]")
_FLAGS = glob.GLOBSTAR | glob.BRACE | glob.DOTGLOB | glob.CASE | glob.FORCEUNIX


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str] | None:
    # wcmatch translates the pattern (each brace alternative its own anchored expression);
    # compiled once, as the claim path compares every pending stage's labels with each agent's.
    try:
        alternatives, _ = glob.translate(pattern, flags=_FLAGS)
    except Exception:  # wcmatch refuses some patterns (too many braces): they match nothing
        return None
    if not alternatives:
        return None
    return re.compile("|".join(f"(?:{alternative})" for alternative in alternatives))


def glob_match(value: str, pattern: str) -> bool:
    """Whether ``value`` matches the doublestar ``pattern`` (an identical text always does)."""
    if pattern == value:
        return True
    if not _MAGIC.search(pattern):
        return False  # a plain name matches only itself
    regex = _regex(pattern)
    return regex is not None and regex.match(value) is not None


def matches_any(value: str, patterns: Iterable[str]) -> bool:
    """Whether ``value`` matches one of ``patterns`` (none: False)."""
    return any(glob_match(value, pattern) for pattern in patterns)
