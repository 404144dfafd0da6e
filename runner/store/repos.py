"""Repositories activated on the server."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from runner.core import Repo
from runner.errors import BadRequest, Conflict, NotFound, RunnerError
from runner.store.convert import now, row_values, select_by_id, to_record
from runner.store.crypto import Cipher
from runner.store.db import Database
from runner.store.models import RepoRow

log = logging.getLogger(__name__)

FORGES = ("github", "gitlab", "gitea", "gogs", "generic")
# Fields a repository update may change (slug and id are fixed).
UPDATABLE = frozenset(
    {
        "forge",
        "clone_url",
        "default_branch",
        "webhook_secret",
        "trusted",
        "timeout",
        "pipeline_path",
        "private",
        "active",
        "forge_token",
        "forge_url",
        "generic_hook",
    }
)


# Marks a forge token stored encrypted (older rows may hold it plain).
SEALED = "enc:"


class RepoStore:
    """Repositories by id or ``owner/name`` slug. Thread-safe.

    With a cipher, the forge token (a credential for commit statuses) is encrypted at rest;
    repositories are handed out with it in plain text, for the status reporter.
    """

    def __init__(self, db: Database, cipher: Cipher | None = None):
        self.db = db
        self.cipher = cipher

    def _seal(self, fields: dict) -> dict:
        token = fields.get("forge_token")
        if self.cipher is not None and token:
            fields = {**fields, "forge_token": SEALED + self.cipher.encrypt(token).decode()}
        return fields

    def _record(self, row: RepoRow) -> Repo:
        token = row.forge_token or ""
        if token.startswith(SEALED) and self.cipher is not None:
            try:
                token = self.cipher.decrypt(token[len(SEALED) :].encode())
            except RunnerError as exc:
                # A lost key must not make the repository unreadable: statuses stop, builds go on.
                log.warning("forge token of %s unreadable: %s", row.slug, exc)
                token = ""
        return to_record(Repo, row, forge_token=token)

    def create(self, slug: str, **fields) -> Repo:
        """Activate a repository; a webhook secret is generated when none is given.

        Raises ``Conflict`` when the slug exists, ``BadRequest`` for a malformed slug or forge.
        """
        slug = slug.strip().strip("/")
        if slug.count("/") < 1 or not all(slug.split("/")):
            raise BadRequest(f"repository {slug!r} is not of the form OWNER/NAME")
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise BadRequest(f"unknown repository fields: {', '.join(sorted(unknown))}")
        forge = fields.get("forge", "generic")
        if forge not in FORGES:
            raise BadRequest(f"unknown forge {forge!r}: use one of {', '.join(FORGES)}")
        repo = Repo(id=0, slug=slug, created=now(), **fields)
        if not repo.webhook_secret:
            repo.webhook_secret = secrets.token_hex(20)
        row = RepoRow(**self._seal(row_values(repo, RepoRow)))
        try:
            with self.db.write() as s:
                s.add(row)
                s.flush()
                return self._record(row)
        except IntegrityError:
            raise Conflict(f"repository {slug} is already active") from None

    def get(self, repo_id: int) -> Repo:
        row = self.db.first(select_by_id(RepoRow.__table__), {"p_id": repo_id})
        if row is None:
            raise NotFound(f"no repository with id {repo_id}")
        return self._record(row)

    def find(self, slug: str) -> Repo | None:
        """The repository ``owner/name``, or None."""
        with self.db.session() as s:
            row = s.scalar(select(RepoRow).where(RepoRow.slug == slug.strip("/")))
            return self._record(row) if row else None

    def get_by_slug(self, slug: str) -> Repo:
        repo = self.find(slug)
        if repo is None:
            raise NotFound(f"no repository {slug!r}: activate it with `runner repo add {slug}`")
        return repo

    def list(self, *, ids: list[int] | None = None, active_only: bool = False) -> list[Repo]:
        """Repositories by slug; ``ids`` restricts to those (e.g. the ones a user may read)."""
        with self.db.session() as s:
            query = select(RepoRow).order_by(RepoRow.slug)
            if ids is not None:
                query = query.where(RepoRow.id.in_(ids))
            if active_only:
                query = query.where(RepoRow.active.is_(True))
            return [self._record(r) for r in s.scalars(query)]

    def update(self, repo_id: int, **fields) -> Repo:
        """Change the given fields; raises ``BadRequest`` for a field that cannot change."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise BadRequest(
                f"cannot change {', '.join(sorted(unknown))}; changeable: "
                + ", ".join(sorted(UPDATABLE))
            )
        if "forge" in fields and fields["forge"] not in FORGES:
            raise BadRequest(f"unknown forge {fields['forge']!r}: use one of {', '.join(FORGES)}")
        with self.db.write() as s:
            if fields:
                s.execute(update(RepoRow).where(RepoRow.id == repo_id).values(**self._seal(fields)))
            row = s.get(RepoRow, repo_id)
            if row is None:
                raise NotFound(f"no repository with id {repo_id}")
            return self._record(row)

    def delete(self, repo_id: int) -> None:
        """Remove the repository with its builds, logs, secrets and crons."""
        with self.db.write() as s:
            if s.execute(delete(RepoRow).where(RepoRow.id == repo_id)).rowcount == 0:
                raise NotFound(f"no repository with id {repo_id}")
