"""expr-lang's operators on values, as its Go runtime computes them.

Values are ``None`` (nil), ``bool``, ``int`` (Go's 64-bit int: results wrap), ``float``,
``str``, ``list`` and ``dict``. Sources: expr-lang/expr vm/runtime/runtime.go (``Fetch``,
``Slice``, ``In``, ``Negate``, ``Exponent``, ``MakeRange``) and vm/runtime/helpers (``Equal``,
``Less``, ``Add``, ``Divide``, ``Modulo``: numbers of any kind compare and add as numbers,
``/`` always gives a float, ``%`` takes integers). A type the operator is not defined on is
an ``ExpressionError``, as expr-lang's checker or runtime refuses it.
"""

from __future__ import annotations

import math
from typing import Any

from runner.pipeline.expr.errors import ExpressionError

_INT_BITS = 64


def go_type(value: Any) -> str:
    """The expr-lang type name of ``value`` (its ``type()`` builtin)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "map"
    return "unknown"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def wrap_int(value: int) -> int:
    """``value`` as Go's int64 holds it (two's complement wrap-around)."""
    value &= (1 << _INT_BITS) - 1
    return value - (1 << _INT_BITS) if value >> (_INT_BITS - 1) else value


def go_int(value: Any) -> int:
    """``int(value)`` as Go converts a number: floats truncate; NaN, ±Inf and floats beyond
    int64 give math.MinInt64 (what amd64 does), integers wrap."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value) or abs(value) >= 2.0**63:
            return -(1 << 63)
        return int(value)
    return wrap_int(int(value))


def mismatch(op: str, left: Any, right: Any) -> ExpressionError:
    return ExpressionError(
        f"invalid operation: {op} (mismatched types {go_type(left)} and {go_type(right)})"
    )


def equal(left: Any, right: Any) -> bool:
    """``==``: numbers by value whatever their kind, other values of the same type deeply."""
    if is_number(left) and is_number(right):
        return bool(left == right)
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        if len(left) != len(right):
            return False
        return all(equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(equal(left[k], right[k]) for k in left)
    return bool(left == right)


def less(op: str, left: Any, right: Any) -> bool:
    """``<``, ``<=``, ``>``, ``>=`` on two numbers or two strings."""
    ok = (is_number(left) and is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    )
    if not ok:
        raise mismatch(op, left, right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def arithmetic(op: str, left: Any, right: Any) -> Any:
    """``+ - * / % ** ^``; ``+`` also joins two strings."""
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if not (is_number(left) and is_number(right)):
        raise mismatch(op, left, right)
    both_int = isinstance(left, int) and isinstance(right, int)
    if op in ("**", "^"):
        try:
            return math.pow(float(left), float(right))
        except OverflowError:
            return math.inf
        except ValueError:
            return math.nan
    if op == "/":
        if right == 0:  # Go's float64 division: ±Inf, or NaN for 0/0
            return math.nan if left == 0 else math.copysign(math.inf, left)
        return float(left) / float(right)
    if op == "%":
        if not both_int:
            raise mismatch(op, left, right)
        if right == 0:
            raise ExpressionError("integer divide by zero")
        remainder = abs(left) % abs(right)  # Go's % truncates: the sign of the dividend
        return wrap_int(-remainder if left < 0 else remainder)
    if op == "+":
        result = left + right
    elif op == "-":
        result = left - right
    else:
        result = left * right
    return wrap_int(result) if both_int else float(result)


def negate(value: Any) -> Any:
    if not is_number(value):
        raise ExpressionError(f"invalid operation: - {go_type(value)}")
    return wrap_int(-value) if isinstance(value, int) else -value


def member(value: Any, key: Any, optional: bool) -> Any:
    """``a.b``, ``a[b]``: a map's value (nil when missing), a list's or string's item
    (negative from the end; out of range is an error); on nil with ``?.``, nil."""
    if value is None:
        if optional:
            return None
        raise ExpressionError(f"cannot fetch {to_string(key)} from nil")
    if isinstance(value, dict):
        return value.get(key) if isinstance(key, str) else None
    if isinstance(value, (list, str)):
        if not is_number(key):
            raise ExpressionError(f"cannot fetch {to_string(key)} from {go_type(value)}")
        index = go_int(key)
        size = len(value)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise ExpressionError(f"index out of range: {index} (array length is {size})")
        item = value[index]
        return ord(item) if isinstance(item, str) else item
    raise ExpressionError(f"cannot fetch {to_string(key)} from {go_type(value)}")


def slice_of(value: Any, low: Any, high: Any) -> Any:
    """``a[low:high]`` clamped to the list or string, as ``runtime.Slice`` does."""
    if not isinstance(value, (list, str)):
        raise ExpressionError(f"cannot slice {go_type(value)}")
    size = len(value)
    start = _bound(low, 0, size)
    end = _bound(high, size, size)
    return value[start : max(start, end)]


def _bound(value: Any, default: int, size: int) -> int:
    if value is None:
        return default
    if not is_number(value):
        raise ExpressionError(f"invalid slice index of type {go_type(value)}")
    index = go_int(value)
    if index < 0:
        index += size
    return min(max(index, 0), size)


def contained(needle: Any, haystack: Any) -> bool:
    """``in``: an item of a list, a key of a map; nothing is in nil."""
    if haystack is None:
        return False
    if isinstance(haystack, list):
        return any(equal(item, needle) for item in haystack)
    if isinstance(haystack, dict):
        return isinstance(needle, str) and needle in haystack
    raise ExpressionError(f'operator "in" not defined on {go_type(haystack)}')


def truth(op: str, value: Any) -> bool:
    """A boolean operand of ``and``, ``or``, ``not`` or ``?:``; anything else is an error."""
    if not isinstance(value, bool):
        raise ExpressionError(f"invalid operation: {op} on {go_type(value)} (bool expected)")
    return value


def to_string(value: Any) -> str:
    """``fmt.Sprintf("%v", value)``: what ``string()`` gives in expr-lang."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list):
        return "[" + " ".join(to_string(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{k}:{to_string(v)}" for k, v in items) + "]"
    return str(value)


def _go_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if text.endswith(".0"):
        text = text[:-2]
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').zfill(2)}"
    elif abs(value) >= 1e21:
        text = f"{value:e}"
    return text
