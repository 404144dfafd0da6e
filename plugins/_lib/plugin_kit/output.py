"""The plugin's log (stdout) with secrets masked, and the one-line failure exit.

Plugins print through ``say``; every value registered with ``MASKER`` (passwords, keys, tokens)
is replaced by ``******`` before it reaches stdout, line by line for multi-line secrets.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

MASK = "******"


class Masker:
    """Replaces registered secret values in text; not thread-safe for ``add`` during ``mask``."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, value: str) -> None:
        for part in str(value).splitlines() or [str(value)]:
            if len(part.strip()) >= 3:
                self._secrets.add(part)

    def mask(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text


MASKER = Masker()


def say(*parts: object) -> None:
    """Print one log line, masked, flushed at once so the runner streams it live."""
    print(MASKER.mask(" ".join(str(p) for p in parts)), flush=True)


class PluginError(Exception):
    """A failure the plugin reports as one line and exit code 1."""


def run(main: Callable[[], int | None]) -> None:
    """Run a plugin's ``main`` and exit: its return code, or 1 with one masked ``error:`` line.

    Known failures (``PluginError``, ``SettingError``, ``OSError``) print only their message; an
    unexpected exception prints its masked traceback first, then the same one-line summary.
    """
    from plugin_kit.settings import SettingError

    try:
        code = main() or 0
    except (PluginError, SettingError) as exc:
        say(f"error: {exc}")
        code = 1
    except KeyboardInterrupt:
        say("error: interrupted")
        code = 130
    except OSError as exc:
        say(f"error: {exc}")
        code = 1
    except Exception as exc:  # a bug: show where, masked, then the summary line
        for line in traceback.format_exc().splitlines():
            say(line)
        say(f"error: {type(exc).__name__}: {exc}")
        code = 1
    sys.stdout.flush()
    sys.exit(code)
