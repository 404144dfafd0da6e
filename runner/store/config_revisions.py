"""Configuration revisions: the distinct pipeline configurations a repository has built, numbered.

A configuration is the set of pipeline files the triggerer read at a commit, names and contents
as they are in the repository (before substitution); ``config_digest`` is its SHA-256. The first
configuration a repository builds is revision 1, the next distinct one 2, and so on. A content
seen before keeps its number: reverting the file to an earlier content gives that content's
earlier revision back, so a revision always names one configuration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from runner.errors import Conflict
from runner.store.convert import now
from runner.store.db import Database
from runner.store.models import ConfigRevisionRow, RepoRow

# Should two servers still insert the same number or content at once (the repository row lock
# below makes it unlikely), one insert loses on a unique constraint and reads (or numbers) again.
_ATTEMPTS = 8


def config_digest(files: Mapping[str, str]) -> str:
    """The SHA-256 (hex) of pipeline files: each name and content, in name order.

    Lengths prefix every part, so no two different sets of files hash alike by shifting text
    from a name into a content.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        for part in (name, files[name]):
            data = part.encode("utf-8", "surrogateescape")
            digest.update(f"{len(data)}:".encode())
            digest.update(data)
    return digest.hexdigest()


class ConfigRevisionStore:
    """The configuration revisions of repositories. Thread-safe, and safe with several servers
    on one database: numbering locks the repository's row, and the unique constraints on
    (repository, digest) and (repository, revision) stand behind it."""

    def __init__(self, db: Database):
        self.db = db

    def find(self, repo_id: int, digest: str) -> int | None:
        """The revision of the configuration ``digest`` in the repository, or None when it was
        never numbered. Numbers nothing (pull requests use this)."""
        with self.db.session() as s:
            revision = s.scalar(
                select(ConfigRevisionRow.revision).where(
                    ConfigRevisionRow.repo_id == repo_id, ConfigRevisionRow.digest == digest
                )
            )
            return int(revision) if revision is not None else None

    def number(self, repo_id: int, digest: str) -> int:
        """The revision of the configuration ``digest``: its number when the repository has
        built it before, else the next number (1 for the first), recorded now.

        Raises ``Conflict`` when the database keeps refusing the insert (it never should).
        """
        for _ in range(_ATTEMPTS):
            found = self.find(repo_id, digest)
            if found is not None:
                return found
            try:
                with self.db.write() as s:
                    # Numbering waits for whoever numbers in this repository now (PostgreSQL
                    # row lock; SQLite's writers are serialised already), then looks again.
                    s.execute(select(RepoRow.id).where(RepoRow.id == repo_id).with_for_update())
                    taken = s.scalar(
                        select(ConfigRevisionRow.revision).where(
                            ConfigRevisionRow.repo_id == repo_id,
                            ConfigRevisionRow.digest == digest,
                        )
                    )
                    if taken is not None:
                        return int(taken)
                    last = s.scalar(
                        select(func.max(ConfigRevisionRow.revision)).where(
                            ConfigRevisionRow.repo_id == repo_id
                        )
                    )
                    revision = int(last or 0) + 1
                    s.add(
                        ConfigRevisionRow(
                            repo_id=repo_id, digest=digest, revision=revision, created=now()
                        )
                    )
                return revision
            except IntegrityError:
                # Another server numbered this configuration, or took the number: look again.
                continue
        raise Conflict(f"could not number the pipeline configuration {digest[:12]}; try again")
