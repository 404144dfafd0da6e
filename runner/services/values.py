"""Rules for the plain values actions take: whole numbers and true/false flags.

Shared by every action and by the API's parsing, so a number or flag means the same wherever
it is sent.
"""

from __future__ import annotations

import re

from runner.errors import BadRequest

# The largest number taken anywhere: PostgreSQL's `integer`.
MAX_NUMBER = 2**31 - 1
# ASCII digits only: int() would also take "1_000", " 7 " and other scripts' digits.
_DIGITS = re.compile(r"-?[0-9]+")


def whole_number(value: object, name: str, *, low: int = 0, high: int = MAX_NUMBER) -> int:
    """``value`` (a JSON number, or the text of a query or path part) as a whole number from
    ``low`` to ``high``; ``BadRequest`` naming ``name`` otherwise.

    Booleans, fractions, exponents and digits of other scripts are refused: every caller sees
    the same rule, and nothing out of range reaches the database (``MAX_NUMBER`` is
    PostgreSQL's ``integer``).
    """
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise BadRequest(f"{name} must be a whole number, not {value[:40]!r}")
        if len(value.lstrip("-")) > 19:
            raise BadRequest(f"{name} must be {low} to {high}, not a {len(value)}-digit number")
        value = int(value)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be a whole number, not {type(value).__name__}")
    if value < low:
        raise BadRequest(f"{name} must be at least {low}, not {value}")
    if value > high:
        shown = value if value < 10**20 else "a larger number"
        raise BadRequest(f"{name} must be at most {high}, not {shown}")
    return value


def flag(value: object, name: str) -> bool:
    """``value`` when it is JSON ``true`` or ``false``; ``BadRequest`` naming ``name`` otherwise
    (``bool("false")`` would be true)."""
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, not {type(value).__name__}")
    return value
