"""Row → dataclass conversion, so no ORM row or session escapes the store."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, TypeVar

from sqlalchemy import bindparam, select

T = TypeVar("T")

_FIELDS: dict[type, tuple[str, ...]] = {}


def to_record(cls: type[T], row: Any, **extra: Any) -> T:
    """Build ``cls`` from the row's attributes of the same names (``extra`` wins)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        _FIELDS[cls] = names
    values = {n: getattr(row, n) for n in names if n not in extra and hasattr(row, n)}
    values.update(extra)
    return cls(**values)


def row_values(record: Any, row_cls: type, *, skip: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    """The dataclass's fields that are columns of ``row_cls`` (for inserts)."""
    columns = set(row_cls.__table__.columns.keys())
    return {
        f.name: getattr(record, f.name)
        for f in dataclasses.fields(record)
        if f.name in columns and f.name not in skip
    }


_BY_ID: dict[Any, Any] = {}


def select_by_id(table) -> Any:
    """``SELECT * FROM <table> WHERE id = :p_id``, built once per table: lookups by key are
    the hottest reads, and building the statement cost more than running it."""
    statement = _BY_ID.get(table)
    if statement is None:
        statement = _BY_ID[table] = select(table).where(table.c.id == bindparam("p_id"))
    return statement


def now() -> float:
    return time.time()
