"""The event log: who did what, when — builds, settings, secrets, environments, agents, users.

One append-only table serves every repository's log (entries with the repository's id) and the
server's (every entry; those of users, tokens and agents have no repository). There is no
update and no delete: an entry, once written, stays as it was. ``matching`` reads newest first
with filters and pages by id (``before``), so a page never shifts while entries are added.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import Select, false, or_, select

from runner.store.convert import now, to_record
from runner.store.db import Database
from runner.store.models import AuditEventRow

# What the columns hold; longer text is cut, never refused: the log must not fail an action.
MAX_KIND = 50
MAX_SUBJECT = 300
MAX_ACTOR = 200
MAX_MESSAGE = 2000


@dataclass
class AuditEvent:
    """One entry: ``kind`` (a short dotted word, ``build.cancelled``), its ``subject``
    (``agent:edge-1``, ``repo:acme/app``, ``build:acme/app#7``), what happened in words, who
    did it, when, and the repository it belongs to (None for the server's own entries)."""

    id: int
    kind: str
    subject: str = ""
    message: str = ""
    actor: str = ""
    created: float = 0.0
    repo_id: int | None = None


@dataclass(frozen=True)
class AuditFilter:
    """Which entries a read wants; every field left at its default matches everything.

    ``kind`` is exact (``build.cancelled``), or a prefix when it ends with ``.``
    (``build.``). ``kinds``, when given, keeps only entries whose kind starts with one of
    these prefixes (none when empty): what a reader may see, on top of ``kind``. ``since``
    and ``until`` are seconds since 1970 (``since`` included, ``until`` not); ``before`` is
    an entry id: only older entries (the next page).
    """

    repo_id: int | None = None
    subject: str | None = None
    kind: str | None = None
    kinds: tuple[str, ...] | None = None
    actor: str | None = None
    since: float | None = None
    until: float | None = None
    before: int | None = None


@dataclass(frozen=True)
class AuditDraft:
    """An entry not written yet, for a store that writes it in the transaction of the change
    it tells (``BuildStore.create``): kind, subject, words and actor as ``record`` takes them."""

    kind: str
    subject: str
    message: str
    actor: str


def entry_row(draft: AuditDraft, repo_id: int | None) -> AuditEventRow:
    """The row of ``draft``, stamped now, its texts cut to the columns' sizes."""
    return AuditEventRow(
        kind=draft.kind[:MAX_KIND],
        subject=draft.subject[:MAX_SUBJECT],
        message=draft.message[:MAX_MESSAGE],
        actor=draft.actor[:MAX_ACTOR],
        created=now(),
        repo_id=repo_id,
    )


class AuditStore:
    """Append-only entries of the event log. Thread-safe."""

    def __init__(self, db: Database):
        self.db = db

    def record(
        self, kind: str, subject: str, message: str, actor: str, *, repo_id: int | None = None
    ) -> AuditEvent:
        """Append an entry, stamped now; ``repo_id`` puts it in that repository's log too."""
        row = entry_row(AuditDraft(kind, subject, message, actor), repo_id)
        with self.db.write() as s:
            s.add(row)
            s.flush()
            return to_record(AuditEvent, row)

    def matching(
        self,
        *,
        subject: str | None = None,
        kind: str | None = None,
        limit: int = 200,
        where: AuditFilter | None = None,
    ) -> list[AuditEvent]:
        """The newest ``limit`` entries that ``where`` (and ``subject`` / ``kind``, kept for
        the callers that name only those) selects, newest first."""
        wanted = where or AuditFilter()
        if subject is not None:
            wanted = dataclasses.replace(wanted, subject=subject)
        if kind is not None:
            wanted = dataclasses.replace(wanted, kind=kind)
        query = _filtered(select(AuditEventRow), wanted)
        query = query.order_by(AuditEventRow.id.desc()).limit(limit)
        with self.db.session() as s:
            return [to_record(AuditEvent, r) for r in s.scalars(query)]


def _filtered(
    query: Select[tuple[AuditEventRow]], wanted: AuditFilter
) -> Select[tuple[AuditEventRow]]:
    row = AuditEventRow
    if wanted.repo_id is not None:
        query = query.where(row.repo_id == wanted.repo_id)
    if wanted.subject is not None:
        query = query.where(row.subject == wanted.subject)
    if wanted.kind:
        if wanted.kind.endswith("."):
            query = query.where(row.kind.startswith(wanted.kind, autoescape=True))
        else:
            query = query.where(row.kind == wanted.kind)
    if wanted.kinds is not None:
        allowed = [row.kind.startswith(prefix, autoescape=True) for prefix in wanted.kinds]
        query = query.where(or_(*allowed) if allowed else false())
    if wanted.actor is not None:
        query = query.where(row.actor == wanted.actor)
    if wanted.since is not None:
        query = query.where(row.created >= wanted.since)
    if wanted.until is not None:
        query = query.where(row.created < wanted.until)
    if wanted.before is not None:
        query = query.where(row.id < wanted.before)
    return query
