"""Small readers for typed fields of the YAML model; each reports a wrong type as an issue."""

from __future__ import annotations

import re
from typing import Any

from runner.pipeline.issues import IssueList
from runner.pipeline.yamlload import YMap, to_text

# The largest whole number a field takes: what the databases' `integer` holds.
MAX_WHOLE = 2**31 - 1
# ASCII digits only: int() would also take "1_000", "²" and other scripts' digits (and fail on
# some), and more than ten digits is out of range anyway.
_DIGITS = re.compile(r"[0-9]{1,10}")


def join(path: str, key: str) -> str:
    """The field path of ``key`` under ``path`` (``steps[0]`` + ``image``)."""
    return f"{path}.{key}" if path else key


def kind_of(value: Any) -> str:
    """How a value reads in an error message."""
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"{to_text(value)!r}"


def key_line(raw: Any, key: str, default: int = 0) -> int:
    """The line of ``key`` in a mapping read by ``yamlload``, or ``default``."""
    return raw.line_of(key) if isinstance(raw, YMap) else default


def text(raw: dict[str, Any], key: str, path: str, issues: IssueList, default: str = "") -> str:
    """A scalar field as text; a map or list is an error."""
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, (dict, list)):
        issues.error(key_line(raw, key), join(path, key), f"expected a value, not {kind_of(value)}")
        return default
    return to_text(value)


def boolean(raw: dict[str, Any], key: str, path: str, issues: IssueList) -> bool:
    """A yes/no field; accepts true/false and their quoted forms."""
    value = raw.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    issues.error(
        key_line(raw, key), join(path, key), f"expected true or false, not {kind_of(value)}"
    )
    return False


def integer(
    raw: dict[str, Any], key: str, path: str, issues: IssueList, *, high: int = MAX_WHOLE
) -> int:
    """A whole-number field from 0 to ``high`` (0 when absent), written as a YAML integer or
    as text of ASCII digits; anything else is an error issue at the key's line, and 0."""
    value = raw.get(key)
    if value is None:
        return 0
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = int(value)
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    if number is not None and 0 <= number <= high:
        return number
    written = "" if isinstance(value, (dict, list)) else to_text(value)
    if not written:
        shown = kind_of(value)
    elif len(written) > 24:
        shown = f"{written[:12]!r}… ({len(written)} characters)"
    else:
        shown = repr(written)
    issues.error(
        key_line(raw, key),
        join(path, key),
        f"expected a whole number from 0 to {high}, not {shown}",
    )
    return 0


def text_list(
    raw: dict[str, Any], key: str, path: str, issues: IssueList, *, split: bool = False
) -> list[str] | None:
    """A list of scalars (a single scalar is a list of one); None when absent."""
    value = raw.get(key)
    if value is None:
        return None
    line = key_line(raw, key)
    if isinstance(value, (str, int, float, bool)):
        return to_text(value).split() if split else [to_text(value)]
    if not isinstance(value, list):
        issues.error(line, join(path, key), f"expected a list, not {kind_of(value)}")
        return None
    out = []
    for index, item in enumerate(value):
        if isinstance(item, (dict, list)):
            item_line = value.line_of(index) if hasattr(value, "line_of") else line
            issues.error(
                item_line,
                f"{join(path, key)}[{index}]",
                f"expected a plain value, not {kind_of(item)}; quote the whole line "
                "if it contains ': '",
            )
            continue
        out.append(to_text(item))
    return out


def mapping(raw: dict[str, Any], key: str, path: str, issues: IssueList) -> dict[str, Any] | None:
    """A map field; None when absent, or (with an error) when it is not a map."""
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        issues.error(key_line(raw, key), join(path, key), f"expected a map, not {kind_of(value)}")
        return None
    return value


def environment(raw: dict[str, Any], key: str, path: str, issues: IssueList) -> dict[str, Any]:
    """``environment`` as a map (values text or ``{"from_secret": name}``) or ``K=V`` list."""
    value = raw.get(key)
    line = key_line(raw, key)
    out: dict[str, Any] = {}
    if value is None:
        return out
    if isinstance(value, list):
        for index, item in enumerate(value):
            entry = to_text(item) if not isinstance(item, (dict, list)) else ""
            name, sep, val = entry.partition("=")
            if not sep or not name:
                issues.error(
                    value.line_of(index) if hasattr(value, "line_of") else line,
                    f"{join(path, key)}[{index}]",
                    "a list environment entry must be NAME=value",
                )
                continue
            out[name] = val
        return out
    if not isinstance(value, dict):
        issues.error(line, join(path, key), f"expected a map of NAME: value, not {kind_of(value)}")
        return out
    for name, item in value.items():
        item_line = key_line(value, name, line)
        if isinstance(item, dict):
            if "from_secret" in item and len(item) == 1:
                out[name] = {"from_secret": to_text(item["from_secret"])}
                continue
            issues.error(
                item_line,
                f"{join(path, key)}.{name}",
                "an environment value must be text or {from_secret: name}",
            )
            continue
        if isinstance(item, list):
            issues.warning(
                item_line,
                f"{join(path, key)}.{name}",
                "a list is not a value: it is passed comma-joined; write it as text",
            )
            out[name] = ",".join(to_text(v) for v in item)
            continue
        out[name] = to_text(item)
    return out
