"""Reading a webhook body safely: bounded JSON, then a schema per forge and event.

A signed body is still untrusted input (a leaked secret, a buggy forge, a proxy that mangles
bytes), so nothing of it is used before it is checked:

- ``load_json`` refuses a body that is not UTF-8, nests deeper than ``MAX_DEPTH`` (checked
  before parsing, so the parser never recurses far), or holds ``NaN``, ``Infinity``, an
  out-of-range float or an integer of more than ``MAX_DIGITS`` digits;
- ``validate`` reads the object into a forge's ``Payload`` model (pydantic, strict types):
  a field of the wrong type, a string with a NUL or a lone surrogate, a number out of range
  gives ``BadRequest`` naming the field. Fields the model does not name are ignored, as forges
  add fields over time: each model is the list of what the server reads.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from runner.errors import BadRequest

# Real payloads nest 5 or 6 levels; 64 leaves room and keeps every recursion shallow.
MAX_DEPTH = 64
MAX_DIGITS = 40
# PostgreSQL's `integer`: numbers beyond it could not be stored or compared in SQL.
MAX_NUMBER = 2**31 - 1
# Pull request numbers, GitLab project ids: what a forge can send, with room.
MAX_ID = 2**63 - 1

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Objects count as arrays: depth is all that matters, and mismatched kinds the parser refuses.
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_TOO_MANY_OPEN = re.compile(rb"\[{%d}" % (MAX_DEPTH + 1))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
# git check-ref-format's rules, in short; a leading "-" would read as an option.
_REF = re.compile(r"(?!-)[^\x00-\x20\x7f~^:?*\[\\]{1,255}")

M = TypeVar("M", bound="Payload")


def load_json(body: bytes, forge: str) -> dict[str, Any]:
    """The JSON object of a webhook body; ``BadRequest`` saying what is wrong otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the {forge} webhook body is not UTF-8 ({exc.reason})") from None
    depth = json_depth(body)
    if depth > MAX_DEPTH:
        raise BadRequest(
            f"the {forge} webhook body nests deeper than {MAX_DEPTH} levels; no forge sends that"
        )
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_float, parse_int=_int)
    except ValueError as exc:
        raise BadRequest(
            f"the {forge} webhook body is not valid JSON ({exc}); "
            "set the webhook's content type to application/json"
        ) from None
    if not isinstance(data, dict):
        raise BadRequest(f"the {forge} webhook body must be a JSON object")
    return data


def json_depth(raw: bytes) -> int:
    """How deep the arrays and objects of ``raw`` nest (exact for valid JSON up to
    ``MAX_DEPTH``, then ``MAX_DEPTH + 1``), in C loops: strings are cut out, the brackets kept
    as one kind, then each pass removes the innermost pairs, one level per pass."""
    brackets = _STRING.sub(b"", raw).translate(_ONE_KIND, _NOT_BRACKETS)
    if _TOO_MANY_OPEN.search(brackets):
        return MAX_DEPTH + 1
    depth = 0
    while brackets and depth <= MAX_DEPTH:
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break  # unbalanced: the parser will say where
        brackets = shorter
        depth += 1
    return depth


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"number {raw[:20]}… is out of range")
    return value


def _int(raw: str) -> int:
    if len(raw.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"integer of {len(raw)} digits is out of range")
    return int(raw)


def _clean_text(value: Any) -> Any:
    """Null reads as empty; a string must be storable and printable as text."""
    if value is None:
        return ""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("contains a lone surrogate (not valid Unicode)") from None
    return value


def _clean_sha(value: Any) -> Any:
    value = _clean_text(value)
    if isinstance(value, str) and value and not _SHA.fullmatch(value):
        raise ValueError("is not a hex sha")
    return value


def _clean_ref(value: Any) -> Any:
    value = _clean_text(value)
    if isinstance(value, str) and value and (not _REF.fullmatch(value) or ".." in value):
        raise ValueError("is not a git ref name")
    return value


def _null_as(default: Any) -> Callable[[Any], Any]:
    return lambda value: default if value is None else value


# A string (null reads as ""), without NUL or lone surrogates.
Text = Annotated[str, BeforeValidator(_clean_text)]
# A commit sha in hex, or "".
Sha = Annotated[str, BeforeValidator(_clean_sha)]
# A git ref or branch name git accepts and cannot read as an option (null reads as "").
Ref = Annotated[str, BeforeValidator(_clean_ref)]
# A whole number from 0 to MAX_NUMBER (null reads as 0); booleans and strings are refused.
Number = Annotated[int, BeforeValidator(_null_as(0)), Field(ge=0, le=MAX_NUMBER)]
# An id of the forge's own (GitLab project ids): 0 to MAX_ID.
Id = Annotated[int, BeforeValidator(_null_as(0)), Field(ge=0, le=MAX_ID)]
# true or false (null reads as false).
Flag = Annotated[bool, BeforeValidator(_null_as(False))]
# A list of paths (null reads as []).
Paths = Annotated[list[Text], BeforeValidator(_null_as([]))]


class Payload(BaseModel):
    """Base of the forge payload models: strict types, unknown fields ignored, read-only."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def validate(model: type[M], data: Any, what: str) -> M:
    """``data`` read as ``model``; ``BadRequest`` naming the first wrong field otherwise.

    ``what`` names the payload in the message, e.g. ``"GitHub push"``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"])[:120] or "body"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        message = first["msg"].removeprefix("Value error, ")
        raise BadRequest(f"{what} webhook: field {where!r}: {message}{more}") from None


class Person(Payload):
    """A commit's author as GitHub, GitLab, Gitea and Gogs write it."""

    name: Text = ""
    email: Text = ""
    username: Text = ""


class Commit(Payload):
    """One commit of a push, in the shape the four forges share."""

    id: Sha = ""
    message: Text = ""
    title: Text = ""  # GitLab only
    url: Text = ""
    author: Person | None = None
    added: Paths = []
    modified: Paths = []
    removed: Paths = []


def changed_files(commits: list[Commit] | None) -> list[str] | None:
    """The union of added/modified/removed paths of a push's commits, None when unknown."""
    if not commits:
        return None
    paths: list[str] = []
    seen: set[str] = set()
    for commit in commits:
        for path in (*commit.added, *commit.modified, *commit.removed):
            if path not in seen:
                seen.add(path)
                paths.append(path)
    return paths
