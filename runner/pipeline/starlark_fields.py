"""Drone's ``ctx.build.event`` in a Starlark file, for an interpreter without structs.

Drone hands ``main(ctx)`` a ``starlarkstruct`` whose fields are read as attributes
(drone/drone ``plugin/converter/starlark/args.go``, ``createArgs``). The Python bindings of
go.starlark.net (``starlark-go``) convert plain values only, so the context arrives as nested
dicts, and the file is read with each field access ``x.name`` written as ``x["name"]``.

In go.starlark.net without structs, the only values with attributes are the methods of the
built-in types (strings, lists, dicts, sets, bytes), so an attribute that is not one of those
names could only ever be a field of the context: rewriting it changes nothing else a file
does. ``title`` is both a string method and a field of ``ctx.build``; it is a field unless it
is called. The rewrite keeps every line where it was, so errors name the line of the file.
"""

from __future__ import annotations

import re

BUILTIN_METHODS = frozenset(
    (
        # string
        "capitalize codepoint_ords codepoints count elem_ords elems endswith find format index "
        "isalnum isalpha isdigit islower isspace istitle isupper join lower lstrip partition "
        "removeprefix removesuffix replace rfind rindex rpartition rsplit rstrip split "
        "splitlines startswith strip title upper "
        # list, dict, set
        "append clear extend insert pop remove get items keys popitem setdefault update values "
        "add difference discard intersection issubset issuperset symmetric_difference union"
    ).split()
)
"""Attribute names the built-in types of go.starlark.net have (their methods)."""

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9][0-9A-Za-z_.]*|\.[0-9][0-9A-Za-z_]*")
_STRING_START = re.compile(r"(?:[rRbB]|[rR][bB]|[bB][rR])?('''|\"\"\"|'|\")")
_SPACES = re.compile(r"[ \t]*")
_KEYWORDS = frozenset(
    "and break continue def elif else for if in lambda load not or pass return while".split()
)


def fields_as_keys(source: str) -> str:
    """``source`` with each field access ``expr.name`` written ``expr["name"]`` (names of
    built-in methods kept as they are, ``title`` kept when called); strings and comments are
    copied unchanged and no line moves."""
    out: list[str] = []
    i = 0
    size = len(source)
    ends_value = False  # whether the last token ends an expression a field can follow
    while i < size:
        ch = source[i]
        if ch == "#":
            end = source.find("\n", i)
            end = size if end < 0 else end
            out.append(source[i:end])
            i = end
            continue
        string = _STRING_START.match(source, i)
        if string:
            end = _string_end(source, string.end(), string.group(1))
            out.append(source[i:end])
            i, ends_value = end, True
            continue
        number = _NUMBER.match(source, i)
        if number and (ch != "." or not ends_value):
            out.append(number.group())
            i, ends_value = number.end(), True
            continue
        ident = _IDENT.match(source, i)
        if ident:
            out.append(ident.group())
            i, ends_value = ident.end(), ident.group() not in _KEYWORDS
            continue
        if ch == "." and ends_value:
            space = _SPACES.match(source, i + 1)
            name = _IDENT.match(source, space.end()) if space else None
            if name and _is_field(source, name):
                out.append(f'["{name.group()}"]')
                i, ends_value = name.end(), True
                continue
        out.append(ch)
        ends_value = ch in ")]}" or (ch in " \t" and ends_value)
        i += 1
    return "".join(out)


def _is_field(source: str, name: re.Match[str]) -> bool:
    if name.group() not in BUILTIN_METHODS:
        return True
    if name.group() != "title":
        return False
    after = _SPACES.match(source, name.end())
    following = source[after.end()] if after and after.end() < len(source) else ""
    return following != "("


def _string_end(source: str, start: int, quote: str) -> int:
    """The index just past the string literal whose body starts at ``start``."""
    i = start
    while i < len(source):
        if source[i] == "\\":
            i += 2
            continue
        if source.startswith(quote, i):
            return i + len(quote)
        if source[i] == "\n" and len(quote) == 1:
            return i  # unterminated: the interpreter reports it at this line
        i += 1
    return len(source)
