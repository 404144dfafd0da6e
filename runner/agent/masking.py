"""Secret masking: every log line is passed through a ``Masker`` before it reaches any sink.

A secret's value is replaced by ``******`` wherever it appears in a line. A multi-line secret
(a private key, a certificate) is masked line by line, since logs travel one line at a time.
A line too long to travel whole arrives in pieces (``runner.engine.docker_logs.LinePiece``); a
secret cut in two by such a split is still masked, because the wrapped sink holds back the end
of a piece that could be the start of a secret until the next piece arrives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from runner.engine.docker_logs import LinePiece

MASK = "******"


class Masker:
    """Replaces secret values in log lines. Immutable after construction, so thread-safe."""

    def __init__(self, values: Iterable[str]) -> None:
        parts: set[str] = set()
        for value in values:
            for line in str(value or "").splitlines():
                line = line.strip()
                if line:
                    parts.add(line)
        # Longest first, so a secret containing another one is masked whole.
        ordered = sorted(parts, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(p) for p in ordered)) if ordered else None
        # A secret's start can hide in this many characters at the end of a piece.
        self._overlap = len(ordered[0]) - 1 if ordered else 0

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, line: str) -> str:
        """``line`` with every secret value (or secret line) replaced by ``******``."""
        if self._pattern is None:
            return line
        return self._pattern.sub(MASK, line)

    def wrap(self, sink: Callable[[str], None]) -> Callable[[str], None]:
        """A sink that masks each line, then hands it to ``sink``.

        The returned sink keeps state across the pieces of one long line, so it must be fed
        by one thread at a time (one per step, as the executor does).
        """
        pattern = self._pattern
        if pattern is None:
            return sink
        held = [""]  # the end of the last piece, not passed on yet

        def masked(line: str) -> None:
            text = held[0] + line if held[0] else line
            held[0] = ""
            if isinstance(line, LinePiece):
                cut = self._safe_cut(text, pattern)
                held[0] = text[cut:]
                if cut:
                    sink(self.mask(text[:cut]))
                return
            sink(self.mask(text))

        return masked

    def _safe_cut(self, text: str, pattern: re.Pattern[str]) -> int:
        """Where ``text`` may be cut so that no secret is split: the last ``overlap`` characters
        stay behind, unless a whole secret found there ends the part passed on."""
        cut = max(0, len(text) - self._overlap)
        for match in pattern.finditer(text):
            if match.start() < cut < match.end():
                return match.end()
            if match.start() >= cut:
                break
        return cut
