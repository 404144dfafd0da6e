"""Row → dataclass conversion, so no ORM row or session escapes the store.

A JSON column whose record field is a typed object (a stage's ``spec``, a ``StageSpec``) is
decoded on the way out and encoded on the way in, here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Result, Select, TableClause, bindparam, select

from runner.core import Stage
from runner.pipeline.spec import StageSpec

T = TypeVar("T")

_FIELDS: dict[type, tuple[str, ...]] = {}


def _decode_spec(value: Any) -> StageSpec:
    # A stage saved without a spec (an empty object) reads as an empty spec.
    return StageSpec.from_dict(value) if value else StageSpec(name="")


# Fields of records stored as JSON but handed out typed: record class -> field -> decoder.
_DECODERS: dict[type, dict[str, Callable[[Any], Any]]] = {Stage: {"spec": _decode_spec}}


def to_record(cls: type[T], row: Any, **extra: Any) -> T:
    """Build ``cls`` from the row's attributes of the same names (``extra`` wins)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cast(Any, cls)))
        _FIELDS[cls] = names
    values = {n: getattr(row, n) for n in names if n not in extra and hasattr(row, n)}
    decoders = next((_DECODERS[k] for k in cls.__mro__ if k in _DECODERS), {})  # subclasses too
    for name, decoder in decoders.items():
        if name in values:
            values[name] = decoder(values[name])
    values.update(extra)
    return cls(**values)


def row_values(record: Any, row_cls: Any, *, skip: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    """The dataclass's fields that are columns of ``row_cls`` (for inserts); typed objects of
    JSON columns in their JSON form."""
    columns = set(row_cls.__table__.columns.keys())
    values = {
        f.name: getattr(record, f.name)
        for f in dataclasses.fields(record)
        if f.name in columns and f.name not in skip
    }
    for name in _DECODERS.get(type(record), {}):
        if name in values:
            values[name] = values[name].to_dict()
    return values


_BY_ID: dict[TableClause, Select[Any]] = {}


def select_by_id(table: Any) -> Select[Any]:
    """``SELECT * FROM <table> WHERE id = :p_id``, built once per table: lookups by key are
    the hottest reads, and building the statement cost more than running it."""
    statement = _BY_ID.get(table)
    if statement is None:
        statement = _BY_ID[table] = select(table).where(table.c.id == bindparam("p_id"))
    return statement


def affected(result: Result[Any]) -> int:
    """How many rows an ``UPDATE`` or ``DELETE`` changed (its result is a cursor's)."""
    return cast(CursorResult[Any], result).rowcount


def now() -> float:
    """The time stored in rows: seconds since 1970."""
    return time.time()
