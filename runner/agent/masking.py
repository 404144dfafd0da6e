"""Secret masking: every log line is passed through a ``Masker`` before it reaches any sink.

A secret's value is replaced by ``******`` wherever it appears in a line. A multi-line secret
(a private key, a certificate) is masked line by line, since logs travel one line at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

MASK = "******"


class Masker:
    """Replaces secret values in log lines. Immutable after construction, so thread-safe."""

    def __init__(self, values: Iterable[str]):
        parts: set[str] = set()
        for value in values:
            for line in str(value or "").splitlines():
                line = line.strip()
                if line:
                    parts.add(line)
        # Longest first, so a secret containing another one is masked whole.
        ordered = sorted(parts, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(p) for p in ordered)) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, line: str) -> str:
        """``line`` with every secret value (or secret line) replaced by ``******``."""
        if self._pattern is None:
            return line
        return self._pattern.sub(MASK, line)

    def wrap(self, sink: Callable[[str], None]) -> Callable[[str], None]:
        """A sink that masks each line, then hands it to ``sink``."""
        if self._pattern is None:
            return sink

        def masked(line: str) -> None:
            sink(self.mask(line))

        return masked
