"""Repositories activated on the server."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError

from runner.core import Repo
from runner.errors import BadRequest, Conflict, NotFound, RunnerError
from runner.repo_rules import check_slug
from runner.store.convert import affected, now, row_values, select_by_id, to_record
from runner.store.crypto import Cipher
from runner.store.db import Database
from runner.store.logmover import discard_objects
from runner.store.models import BuildRow, RepoRow, StageRow, StepRow

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
        "fork_privileged",
        "timeout",
        "log_retention_days",
        "pipeline_path",
        "private",
        "active",
        "forge_token",
        "forge_url",
        "generic_hook",
    }
)


# Marks a credential stored encrypted (older rows may hold it plain).
SEALED = "enc:"
# Credentials kept encrypted at rest: the forge token (commit statuses) and the webhook secret
# (anyone holding it can start builds with a forged delivery).
SEALED_FIELDS = ("forge_token", "webhook_secret")
# Sealed, this many bytes fill the webhook_secret column (200 characters) to 188.
WEBHOOK_SECRET_MAX_BYTES = 72


class RepoStore:
    """Repositories by id or ``owner/name`` slug. Thread-safe.

    With a cipher, the forge token (a credential for commit statuses) and the webhook secret
    are encrypted at rest; repositories are handed out with them in plain text, for the status
    reporter and the signature check.
    """

    def __init__(self, db: Database, cipher: Cipher | None = None):
        self.db = db
        self.cipher = cipher

    def _seal(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self.cipher is None:
            return fields
        sealed = dict(fields)
        for name in SEALED_FIELDS:
            value = fields.get(name)
            if value:
                if name == "webhook_secret" and len(value.encode()) > WEBHOOK_SECRET_MAX_BYTES:
                    raise BadRequest(
                        f"a webhook secret has at most {WEBHOOK_SECRET_MAX_BYTES} bytes"
                    )
                sealed[name] = SEALED + self.cipher.encrypt(value).decode()
        return sealed

    def _open(self, slug: str, name: str, stored: str) -> str:
        if not stored.startswith(SEALED) or self.cipher is None:
            return stored
        try:
            return self.cipher.decrypt(stored[len(SEALED) :].encode())
        except RunnerError as exc:
            # A lost key must not make the repository unreadable: statuses stop, and webhooks
            # are refused until the secret is rotated; the API and the UI keep working.
            log.warning("%s of %s unreadable: %s", name, slug, exc)
            return ""

    def _record(self, row: RepoRow | Row[Any]) -> Repo:
        opened = {
            name: self._open(row.slug, name, getattr(row, name) or "") for name in SEALED_FIELDS
        }
        return to_record(Repo, row, **opened)

    def seal_stored(self) -> int:
        """Encrypt credentials that older versions stored in plain text; how many rows changed.

        Called once at server start; a no-op without a cipher.
        """
        if self.cipher is None:
            return 0
        changed = 0
        with self.db.write() as s:
            for row in s.scalars(select(RepoRow)):
                plain = {
                    name: getattr(row, name)
                    for name in SEALED_FIELDS
                    if getattr(row, name) and not getattr(row, name).startswith(SEALED)
                }
                if plain:
                    for name, value in self._seal(plain).items():
                        setattr(row, name, value)
                    changed += 1
        return changed

    def create(self, slug: str, **fields: Any) -> Repo:
        """Activate a repository; a webhook secret is generated when none is given.

        Raises ``Conflict`` when the slug exists, ``BadRequest`` for a malformed slug or forge.
        """
        slug = check_slug(slug)
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

    def matching(self, *, ids: list[int] | None = None, active_only: bool = False) -> list[Repo]:
        """Repositories by slug; ``ids`` restricts to those (e.g. the ones a user may read)."""
        with self.db.session() as s:
            query = select(RepoRow).order_by(RepoRow.slug)
            if ids is not None:
                query = query.where(RepoRow.id.in_(ids))
            if active_only:
                query = query.where(RepoRow.active.is_(True))
            return [self._record(r) for r in s.scalars(query)]

    def update(self, repo_id: int, **fields: Any) -> Repo:
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
            discard_objects(
                s,
                select(StepRow.id)
                .join(StageRow, StageRow.id == StepRow.stage_id)
                .join(BuildRow, BuildRow.id == StageRow.build_id)
                .where(BuildRow.repo_id == repo_id),
            )
            if affected(s.execute(delete(RepoRow).where(RepoRow.id == repo_id))) == 0:
                raise NotFound(f"no repository with id {repo_id}")
