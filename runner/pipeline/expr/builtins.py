"""expr-lang's builtin functions that take plain values (expr-lang/expr builtin/builtin.go,
builtin/lib.go; documented in docs/language-definition.md). The predicate functions (``all``,
``filter``...) need closures and live in ``interpreter``.

The version is the one Woodpecker builds with (its go.mod: expr-lang/expr v1.17.8). Go
semantics where they differ from Python's: ``len`` of a string counts characters (runes) but
``indexOf`` gives a byte offset, ``trim`` with one argument is ``strings.TrimSpace``,
``fromJSON`` reads every number as a float, ``toJSON`` indents by two spaces with sorted keys
and escapes ``<``, ``>`` and ``&``, ``int("x")`` accepts only ``strconv.Atoi``'s digits.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from typing import Any

from runner.pipeline import limits
from runner.pipeline.expr.budget import Budget
from runner.pipeline.expr.errors import ExpressionError, ExpressionTooComplex
from runner.pipeline.expr.values import (
    equal,
    go_int,
    go_type,
    is_number,
    less,
    to_string,
    wrap_int,
)

Builtin = Callable[[list[Any], Budget], Any]
_ATOI = re.compile(r"[+-]?[0-9]+")


def _arity(name: str, args: list[Any], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= high:
        want = str(low) if low == high else f"{low} to {high}"
        raise ExpressionError(f"{name}: expected {want} arguments, got {len(args)}")


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"invalid argument for {name} (type {go_type(value)})")
    return value


def _integer(name: str, value: Any) -> int:
    if not is_number(value):
        raise ExpressionError(f"invalid argument for {name} (type {go_type(value)})")
    return go_int(value)


def _array(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ExpressionError(f"invalid argument for {name} (type {go_type(value)})")
    return value


def _string_fn(name: str, count: int, fn: Callable[..., Any]) -> Builtin:
    def call(args: list[Any], budget: Budget) -> Any:
        _arity(name, args, count)
        texts = [_text(name, a) for a in args]
        budget.charge(sum(len(t) for t in texts) // 64)
        return fn(*texts)

    return call


def _len(args: list[Any], budget: Budget) -> Any:
    _arity("len", args, 1)
    value = args[0]
    if isinstance(value, str):
        return len(value)  # characters (runes) since expr-lang 1.17, bytes before it
    if isinstance(value, (list, dict)):
        return len(value)
    raise ExpressionError(f"invalid argument for len (type {go_type(value)})")


def _trim(args: list[Any], budget: Budget) -> Any:
    _arity("trim", args, 1, 2)
    text = _text("trim", args[0])
    return text.strip() if len(args) == 1 else text.strip(_text("trim", args[1]))


def _split(args: list[Any], budget: Budget) -> Any:
    _arity("split", args, 2, 3)
    text, sep = _text("split", args[0]), _text("split", args[1])
    limit = _integer("split", args[2]) if len(args) == 3 else -1
    if limit == 0:
        return []
    if sep == "":  # Go splits into characters
        parts = list(text) if limit < 0 else [*text[: limit - 1], text[limit - 1 :]]
    else:
        parts = text.split(sep) if limit < 0 else text.split(sep, limit - 1)
    return budget.made(parts)


def _join(args: list[Any], budget: Budget) -> Any:
    _arity("join", args, 1, 2)
    items = [_text("join", item) for item in _array("join", args[0])]
    sep = _text("join", args[1]) if len(args) == 2 else ""
    budget.size(sum(len(i) for i in items) + len(sep) * len(items), "string")
    return sep.join(items)


def _index_of(args: list[Any], budget: Budget) -> Any:
    _arity("indexOf", args, 2)
    text, sub = _text("indexOf", args[0]), _text("indexOf", args[1])
    found = text.find(sub)
    return found if found < 0 else len(text[:found].encode("utf-8", "surrogatepass"))


def _replace(args: list[Any], budget: Budget) -> Any:
    _arity("replace", args, 3)
    text, old, new = (_text("replace", a) for a in args)
    count = text.count(old) if old else len(text) + 1
    budget.size(len(text) + count * (len(new) - len(old)), "string")
    return text.replace(old, new)


def _repeat(args: list[Any], budget: Budget) -> Any:
    _arity("repeat", args, 2)
    text, times = _text("repeat", args[0]), _integer("repeat", args[1])
    if times < 0:
        raise ExpressionError("invalid argument for repeat (negative repeat count)")
    budget.size(len(text) * times, "string")
    return text * times


def _from_json(args: list[Any], budget: Budget) -> Any:
    _arity("fromJSON", args, 1)
    text = _text("fromJSON", args[0])
    budget.size(len(text), "string")
    _check_json_nesting(text)
    try:
        return json.loads(text, parse_int=float, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ExpressionError(f"fromJSON: {exc}") from None


def _check_json_nesting(text: str) -> None:
    """Refuse JSON nested deeper than ``limits.MAX_NESTING`` before it is read: the values
    made from it are walked recursively (``==``, ``string``, ``toJSON``)."""
    depth = 0
    quoted = escaped = False
    for char in text:
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
            if depth > limits.MAX_NESTING:
                raise ExpressionTooComplex(
                    "fromJSON: the JSON is nested too deeply",
                    f"{limits.MAX_NESTING} levels of nesting",
                )
        elif char in "]}":
            depth -= 1


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def _to_json(args: list[Any], budget: Budget) -> Any:
    _arity("toJSON", args, 1)
    try:
        text = json.dumps(_json_ready(args[0]), indent=2, sort_keys=True, ensure_ascii=False)
    except (ValueError, TypeError) as exc:
        raise ExpressionError(f"toJSON: {exc}") from None
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return budget.made(text)


def _json_ready(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"json: unsupported value: {to_string(value)}")
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    return value


def _int(args: list[Any], budget: Budget) -> Any:
    _arity("int", args, 1)
    value = args[0]
    if isinstance(value, str):
        if not _ATOI.fullmatch(value) or len(value) > 20:
            raise ExpressionError(f"invalid operation: int({value})")
        return wrap_int(int(value))
    if is_number(value):
        return go_int(value)
    raise ExpressionError(f"invalid operation: int({go_type(value)})")


def _float(args: list[Any], budget: Budget) -> Any:
    _arity("float", args, 1)
    value = args[0]
    if isinstance(value, str):
        if not value or value != value.strip() or "_" in value or len(value) > 400:
            raise ExpressionError(f"invalid operation: float({value})")
        try:
            return float(value)
        except ValueError:
            raise ExpressionError(f"invalid operation: float({value})") from None
    if is_number(value):
        return float(value)
    raise ExpressionError(f"invalid operation: float({go_type(value)})")


def _string(args: list[Any], budget: Budget) -> Any:
    _arity("string", args, 1)
    return budget.made(to_string(args[0]))


def _abs(args: list[Any], budget: Budget) -> Any:
    _arity("abs", args, 1)
    if not is_number(args[0]):
        raise ExpressionError(f"invalid argument for abs (type {go_type(args[0])})")
    return abs(args[0])


def _extreme(name: str) -> Builtin:
    def call(args: list[Any], budget: Budget) -> Any:
        if not args:
            raise ExpressionError(f"not enough arguments to call {name}")
        numbers = _numbers(name, args, budget)
        if not numbers:
            return None
        best = numbers[0]
        for number in numbers[1:]:
            if less("<", number, best) if name == "min" else less(">", number, best):
                best = number
        return best

    return call


def _numbers(name: str, args: list[Any], budget: Budget) -> list[Any]:
    out: list[Any] = []
    for arg in args:
        budget.charge()
        if isinstance(arg, list):
            out.extend(_numbers(name, arg, budget))
        elif is_number(arg):
            out.append(arg)
        else:
            raise ExpressionError(f"invalid argument for {name} (type {go_type(arg)})")
    return out


def _rounding(name: str, fn: Callable[[float], float]) -> Builtin:
    def call(args: list[Any], budget: Budget) -> Any:
        _arity(name, args, 1)
        if not is_number(args[0]):
            raise ExpressionError(f"invalid argument for {name} (type {go_type(args[0])})")
        value = args[0]
        if isinstance(value, float) and not math.isfinite(value):
            return value  # math.Ceil, Floor and Round keep NaN and ±Inf
        return float(fn(value)) if isinstance(value, float) else float(value)

    return call


def _go_round(value: float) -> float:
    """``math.Round``: half away from zero (Python's ``round`` rounds half to even)."""
    return math.copysign(math.floor(abs(value) + 0.5), value)


def _map_part(name: str) -> Builtin:
    def call(args: list[Any], budget: Budget) -> Any:
        _arity(name, args, 1)
        if not isinstance(args[0], dict):
            raise ExpressionError(f"cannot get {name} from {go_type(args[0])}")
        budget.charge(len(args[0]) // 64)
        return list(args[0].keys() if name == "keys" else args[0].values())

    return call


def _end(name: str) -> Builtin:
    def call(args: list[Any], budget: Budget) -> Any:
        _arity(name, args, 1)
        items = _array(name, args[0])
        return (items[0] if name == "first" else items[-1]) if items else None

    return call


def _get(args: list[Any], budget: Budget) -> Any:
    _arity("get", args, 2)
    value, key = args
    if isinstance(value, dict):
        return value.get(key) if isinstance(key, str) else None
    if isinstance(value, list) and is_number(key):
        index = go_int(key)
        index += len(value) if index < 0 else 0
        return value[index] if 0 <= index < len(value) else None
    return None


def _type(args: list[Any], budget: Budget) -> Any:
    _arity("type", args, 1)
    return go_type(args[0])


def _base64(name: str) -> Builtin:
    def call(args: list[Any], budget: Budget) -> Any:
        _arity(name, args, 1)
        text = _text(name, args[0])
        if name == "toBase64":
            # A lone surrogate (from fromJSON's "\ud800") is kept as Go keeps its bytes.
            return budget.made(base64.b64encode(text.encode("utf-8", "surrogatepass")).decode())
        try:
            return base64.b64decode(text.encode(), validate=True).decode("utf-8", "replace")
        except ValueError as exc:
            raise ExpressionError(f"fromBase64: {exc}") from None

    return call


def _sum(args: list[Any], budget: Budget) -> Any:
    _arity("sum", args, 1)
    numbers = _numbers("sum", _array("sum", args[0]), budget)
    if any(isinstance(n, float) for n in numbers):
        total = 0.0
        for number in numbers:  # in order, as Go adds them (Inf + -Inf is NaN, not an error)
            total += number
        return total
    return wrap_int(sum(numbers))


def _take(args: list[Any], budget: Budget) -> Any:
    _arity("take", args, 2)
    return list(_array("take", args[0])[: max(_integer("take", args[1]), 0)])


def _reverse(args: list[Any], budget: Budget) -> Any:
    _arity("reverse", args, 1)
    return list(reversed(_array("reverse", args[0])))


def _uniq(args: list[Any], budget: Budget) -> Any:
    _arity("uniq", args, 1)
    out: list[Any] = []
    for item in _array("uniq", args[0]):
        budget.charge(len(out) // 64 + 1)
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


BUILTINS: dict[str, Builtin] = {
    "len": _len,
    "upper": _string_fn("upper", 1, str.upper),
    "lower": _string_fn("lower", 1, str.lower),
    "trim": _trim,
    "trimPrefix": _string_fn("trimPrefix", 2, str.removeprefix),
    "trimSuffix": _string_fn("trimSuffix", 2, str.removesuffix),
    "split": _split,
    "join": _join,
    "hasPrefix": _string_fn("hasPrefix", 2, str.startswith),
    "hasSuffix": _string_fn("hasSuffix", 2, str.endswith),
    "indexOf": _index_of,
    "replace": _replace,
    "repeat": _repeat,
    "fromJSON": _from_json,
    "toJSON": _to_json,
    "int": _int,
    "float": _float,
    "string": _string,
    "abs": _abs,
    "max": _extreme("max"),
    "min": _extreme("min"),
    "ceil": _rounding("ceil", math.ceil),
    "floor": _rounding("floor", math.floor),
    "round": _rounding("round", _go_round),
    "keys": _map_part("keys"),
    "values": _map_part("values"),
    "first": _end("first"),
    "last": _end("last"),
    "get": _get,
    "type": _type,
    "toBase64": _base64("toBase64"),
    "fromBase64": _base64("fromBase64"),
    "sum": _sum,
    "take": _take,
    "reverse": _reverse,
    "uniq": _uniq,
}
