"""The audit log: who changed what outside a build (agents' labels and scopes, settings, users).

Entries are only ever added; ``list`` reads them newest first, optionally for one subject
(``agent:edge-1``) or kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select

from runner.store.convert import now, to_record
from runner.store.db import Database
from runner.store.models import AuditEventRow


@dataclass
class AuditEvent:
    """One entry: ``kind`` (a short dotted word, ``agent.labels``), its ``subject``
    (``agent:edge-1``), what changed in words, who did it and when."""

    id: int
    kind: str
    subject: str = ""
    message: str = ""
    actor: str = ""
    created: float = 0.0
    repo_id: int | None = None


class AuditStore:
    """Append-only entries of the audit log. Thread-safe."""

    def __init__(self, db: Database):
        self.db = db

    def record(self, kind: str, subject: str, message: str, actor: str) -> None:
        """Append an entry, stamped now."""
        with self.db.write() as s:
            s.execute(
                insert(AuditEventRow).values(
                    kind=kind, subject=subject, message=message, actor=actor, created=now()
                )
            )

    def matching(
        self, *, subject: str | None = None, kind: str | None = None, limit: int = 200
    ) -> list[AuditEvent]:
        """The newest ``limit`` entries (of ``subject`` / ``kind`` when given), newest first."""
        query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
        if subject is not None:
            query = query.where(AuditEventRow.subject == subject)
        if kind is not None:
            query = query.where(AuditEventRow.kind == kind)
        with self.db.session() as s:
            return [to_record(AuditEvent, r) for r in s.scalars(query)]
