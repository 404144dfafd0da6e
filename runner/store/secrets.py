"""Secrets of repositories, encrypted at rest; values leave only through ``values_for``."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError

from runner.core import Secret
from runner.errors import BadRequest, Conflict, NotFound
from runner.pipeline.trust import secret_fits
from runner.store.convert import affected, now, to_record
from runner.store.crypto import Cipher
from runner.store.db import Database
from runner.store.models import SecretRow

DEFAULT_EVENTS = ("push", "tag", "cron", "custom", "promote", "rollback")
PULL_REQUEST = "pull_request"
_CHANGEABLE = ("events", "images", "allow_pull_request", "environment", "substitute")


def _named(name: str) -> ColumnElement[bool]:
    """The rows of secret ``name``, in any case: secret names are case-insensitive, as in Drone
    (drone/drone plugin/secret/static.go compares them with strings.EqualFold)."""
    return func.lower(SecretRow.name) == name.lower()


class SecretStore:
    """Per-repository secrets. ``list``/``get`` never carry values. Names are case-insensitive:
    ``find``, ``set`` and ``delete`` take any case. Thread-safe."""

    def __init__(self, db: Database, cipher: Cipher):
        self.db = db
        self.cipher = cipher

    def set(
        self,
        repo_id: int,
        name: str,
        value: str,
        *,
        events: list[str] | None = None,
        images: list[str] | None = None,
        allow_pull_request: bool = False,
        environment: str = "",
        substitute: bool = False,
    ) -> Secret:
        """Add the secret, or replace the one with the same name (in any case, keeping the
        name it was added with) and environment."""
        name = name.strip()
        if not name:
            raise BadRequest("a secret needs a name")
        values = dict(
            value=self.cipher.encrypt(value),
            events=list(events) if events else list(DEFAULT_EVENTS),
            images=list(images or []),
            allow_pull_request=allow_pull_request,
            environment=environment,
            substitute=substitute,
        )
        try:
            with self.db.write() as s:
                row = s.scalar(
                    select(SecretRow).where(
                        SecretRow.repo_id == repo_id,
                        _named(name),
                        SecretRow.environment == environment,
                    )
                )
                if row is None:
                    row = SecretRow(repo_id=repo_id, name=name, created=now(), **values)
                    s.add(row)
                else:
                    for key, val in values.items():
                        setattr(row, key, val)
                s.flush()
                return to_record(Secret, row)
        except IntegrityError:
            raise Conflict(f"secret {name!r} was added at the same time; try again") from None

    def update(self, secret_id: int, *, value: str | None = None, **fields: object) -> Secret:
        """Change the filters ``fields`` names (``events``, ``images``, ``allow_pull_request``,
        ``environment``, ``substitute``) of the secret, and its value unless ``value`` is None.
        ``NotFound`` when there is no such secret, ``Conflict`` when the environment it moves to
        has a secret of its name."""
        unknown = set(fields) - set(_CHANGEABLE)
        if unknown:
            raise BadRequest(f"cannot change {', '.join(sorted(unknown))} of a secret")
        try:
            with self.db.write() as s:
                row = s.get(SecretRow, secret_id)
                if row is None:
                    raise NotFound(f"no secret with id {secret_id}")
                for key, val in fields.items():
                    setattr(row, key, val)
                if value is not None:
                    row.value = self.cipher.encrypt(value)
                s.flush()
                return to_record(Secret, row)
        except IntegrityError:
            raise Conflict("that environment has a secret of this name already") from None

    def get(self, secret_id: int) -> Secret:
        with self.db.session() as s:
            row = s.get(SecretRow, secret_id)
            if row is None:
                raise NotFound(f"no secret with id {secret_id}")
            return to_record(Secret, row)

    def find(self, repo_id: int, name: str, environment: str = "") -> Secret | None:
        with self.db.session() as s:
            row = s.scalar(
                select(SecretRow).where(
                    SecretRow.repo_id == repo_id,
                    _named(name),
                    SecretRow.environment == environment,
                )
            )
            return to_record(Secret, row) if row else None

    def of_repo(self, repo_id: int) -> list[Secret]:
        """The repository's secrets by name, without their values."""
        with self.db.session() as s:
            rows = s.scalars(
                select(SecretRow)
                .where(SecretRow.repo_id == repo_id)
                .order_by(SecretRow.name, SecretRow.environment)
            )
            return [to_record(Secret, r) for r in rows]

    def delete(self, repo_id: int, name: str, environment: str = "") -> None:
        with self.db.write() as s:
            result = s.execute(
                delete(SecretRow).where(
                    SecretRow.repo_id == repo_id,
                    _named(name),
                    SecretRow.environment == environment,
                )
            )
            if affected(result) == 0:
                raise NotFound(f"no secret {name!r} in this repository")

    def values_for(
        self,
        repo_id: int,
        event: str,
        image: str = "",
        environment: str = "",
        pull_request: bool = False,
        plugin: bool = True,
    ) -> dict[str, str]:
        """Plain values of the secrets a step may see, by name in lower case (names are
        case-insensitive).

        A secret is handed out when the build's event is one of its events, its environment
        is empty or the build's, for a pull request build the secret allows pull requests, and
        a secret restricted to images goes only to a plugin step run as shipped (``plugin``: no
        commands, entrypoint or command) of one of them (``runner.pipeline.trust.secret_fits``).
        An environment's secret wins over a repository-wide one of the same name. With
        ``image=""`` the image filter is skipped (the caller filters per step).
        """
        pull_request = pull_request or event == PULL_REQUEST
        with self.db.session() as s:
            rows = s.scalars(
                select(SecretRow)
                .where(SecretRow.repo_id == repo_id)
                .order_by(SecretRow.environment)  # "" first, so scoped ones override
            ).all()
            picked: dict[str, bytes] = {}
            for row in rows:
                if not _refusal(row, event, image, environment, pull_request, plugin):
                    picked[row.name.lower()] = row.value
        return {name: self.cipher.decrypt(value) for name, value in picked.items()}

    def refusals(
        self,
        repo_id: int,
        names: list[str],
        event: str,
        image: str = "",
        environment: str = "",
        pull_request: bool = False,
        plugin: bool = True,
        target: str = "",
    ) -> dict[str, str]:
        """Why each of ``names`` would not reach a step that ``values_for`` (same arguments)
        was asked about, by name as given: no such secret, or the rule that withholds it. A
        name the step would get is left out. ``target`` is the build's environment when
        ``environment`` is empty because the agent may not see its secrets. Never values."""
        pull_request = pull_request or event == PULL_REQUEST
        with self.db.session() as s:
            rows = s.scalars(
                select(SecretRow)
                .where(SecretRow.repo_id == repo_id)
                .order_by(SecretRow.environment)
            ).all()
        reasons: dict[str, str] = {}
        for name in names:
            same = [row for row in rows if row.name.lower() == name.lower()]
            if not same:
                reasons[name] = "no such secret in this repository"
                continue
            why = [_refusal(row, event, image, environment, pull_request, plugin) for row in same]
            if all(why):
                # The repository-wide secret's reason, or the build's environment's.
                relevant = [
                    w for row, w in zip(same, why, strict=True) if row.environment in ("", target)
                ]
                reason = (relevant or why)[-1]
                if target and not environment and any(r.environment == target for r in same):
                    reason = (
                        f"it is a secret of environment {target}, and this agent's labels "
                        "do not fit that environment"
                    )
                reasons[name] = reason
        return reasons

    def substitutable(self, repo_id: int, event: str, environment: str = "") -> list[str]:
        """Names of the secrets marked ``substitute`` that a build of ``event`` deploying to
        ``environment`` may get (its events and environment; the image filter is applied per
        step when the values are handed out). None for a pull request: Drone 0.8 never
        substituted secrets into a pull request's file."""
        if event == PULL_REQUEST:
            return []
        with self.db.session() as s:
            rows = s.scalars(
                select(SecretRow).where(SecretRow.repo_id == repo_id, SecretRow.substitute)
            ).all()
            return sorted(
                {
                    row.name
                    for row in rows
                    if (not row.environment or row.environment == environment)
                    and event in (row.events or [])
                }
            )


def _refusal(
    row: SecretRow, event: str, image: str, environment: str, pull_request: bool, plugin: bool
) -> str:
    """Why the secret of ``row`` does not reach a step (see ``values_for``), "" when it does:
    the one rule both ``values_for`` and ``refusals`` follow."""
    if row.environment and row.environment != environment:
        return f"it is a secret of environment {row.environment}, not of this build"
    if pull_request and not row.allow_pull_request:
        return "it is not allowed for pull requests"
    if not pull_request and event not in (row.events or []):
        return f"it is not allowed for {event} events (only {', '.join(row.events or [])})"
    images = row.images or []
    if image and not secret_fits(images, image, plugin=plugin):
        if secret_fits(images, image, plugin=True):
            return (
                f"it is restricted to images ({', '.join(images)}), and a step with commands "
                "or an entrypoint cannot have an image-restricted secret"
            )
        return f"it is restricted to other images ({', '.join(images)})"
    return ""
