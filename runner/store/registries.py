"""Registry credentials of repositories, passwords encrypted at rest; they leave only through
``credentials_of``, for a claim."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.exc import IntegrityError

from runner.core import Registry
from runner.errors import Conflict, NotFound
from runner.pipeline.registry_auth import RegistryAuth
from runner.store.convert import affected, now, to_record
from runner.store.crypto import Cipher
from runner.store.db import Database
from runner.store.models import RegistryRow

_registries = cast(Table, RegistryRow.__table__)


class RegistryStore:
    """Per-repository registry credentials, one per host. ``find``/``of_repo`` never carry
    the password. Thread-safe."""

    def __init__(self, db: Database, cipher: Cipher):
        self.db = db
        self.cipher = cipher

    def set(self, repo_id: int, hostname: str, username: str, password: str) -> Registry:
        """Add the registry, or replace the credentials of the one with that host."""
        token = self.cipher.encrypt(password)
        try:
            with self.db.write() as s:
                row = s.scalar(
                    select(RegistryRow).where(
                        RegistryRow.repo_id == repo_id, RegistryRow.hostname == hostname
                    )
                )
                if row is None:
                    row = RegistryRow(
                        repo_id=repo_id,
                        hostname=hostname,
                        username=username,
                        password=token,
                        created=now(),
                    )
                    s.add(row)
                else:
                    row.username = username
                    row.password = token
                s.flush()
                return to_record(Registry, row)
        except IntegrityError:
            raise Conflict(f"registry {hostname} was added at the same time; try again") from None

    def find(self, repo_id: int, hostname: str) -> Registry | None:
        """The registry of ``hostname``, without its password; None when there is none."""
        with self.db.session() as s:
            row = s.scalar(
                select(RegistryRow).where(
                    RegistryRow.repo_id == repo_id, RegistryRow.hostname == hostname
                )
            )
            return to_record(Registry, row) if row else None

    def of_repo(self, repo_id: int) -> list[Registry]:
        """The repository's registries by host, without their passwords."""
        with self.db.session() as s:
            rows = s.scalars(
                select(RegistryRow)
                .where(RegistryRow.repo_id == repo_id)
                .order_by(RegistryRow.hostname)
            )
            return [to_record(Registry, r) for r in rows]

    def delete(self, repo_id: int, hostname: str) -> None:
        """Remove the registry of ``hostname``; ``NotFound`` when there is none."""
        with self.db.write() as s:
            result = s.execute(
                delete(RegistryRow).where(
                    RegistryRow.repo_id == repo_id, RegistryRow.hostname == hostname
                )
            )
            if affected(result) == 0:
                raise NotFound(f"no registry {hostname!r} in this repository")

    def credentials_of(
        self, repo_id: int, hosts: Iterable[str] | None = None
    ) -> list[RegistryAuth]:
        """The repository's registries of ``hosts`` (every one when None) with their plain
        passwords, by host: for the claim of one of its stages only. One light query, run on
        every claim."""
        query = select(_registries.c.hostname, _registries.c.username, _registries.c.password)
        query = query.where(_registries.c.repo_id == repo_id)
        if hosts is not None:
            query = query.where(_registries.c.hostname.in_(sorted(set(hosts))))
        with self.db.read_connection() as c:
            found = c.execute(query.order_by(_registries.c.hostname)).all()
        return [RegistryAuth(host, user, self.cipher.decrypt(pw)) for host, user, pw in found]
