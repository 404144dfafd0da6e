"""Users, their per-repository roles, and API tokens (user and agent kinds)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from runner.core import ROLES, TOKEN_AGENT, TOKEN_USER, Token, User
from runner.errors import BadRequest, Conflict, NotFound, RunnerError
from runner.store.convert import affected, now, select_by_id, to_record
from runner.store.db import Database
from runner.store.models import PermissionRow, TokenRow, UserRow, table

# Hashes written before werkzeug did the hashing: ``scrypt$<salt hex>$<hash hex>`` with these
# parameters. Still verified, and replaced by a hash of the current method at the next login.
_LEGACY_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_LEGACY_PREFIX = "scrypt$"
# werkzeug's methods (each takes its parameters after a colon).
_METHODS = ("scrypt", "pbkdf2")
DEFAULT_HASH_METHOD = "scrypt"
"""werkzeug's method for new password hashes (``scrypt:32768:8:1``); see
``Settings.password_hash_method``."""
# A token's last_used is written at most this often, so each API call does not write.
_LAST_USED_EVERY = 60.0
# Every authenticated request runs it: built once.
_TOKEN_BY_HASH = select(table(TokenRow)).where(table(TokenRow).c.token_hash == bindparam("p_hash"))


def hash_password(password: str, method: str = DEFAULT_HASH_METHOD) -> str:
    """A salted hash of ``password`` by werkzeug's ``method`` (``scrypt:32768:8:1$salt$hash``
    with the default); ``ValueError`` for a method werkzeug does not know."""
    return generate_password_hash(password, method=method)


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``, a hash of :func:`hash_password` or a legacy
    ``scrypt$salt$hash`` one (constant-time compare); False for anything else."""
    if stored.startswith(_LEGACY_PREFIX):
        return _check_legacy_scrypt(password, stored)
    try:
        return check_password_hash(stored, password)
    except (ValueError, TypeError):  # not a hash werkzeug can read (an empty one, say)
        return False


def needs_rehash(stored: str, method: str = DEFAULT_HASH_METHOD) -> bool:
    """Whether ``stored`` was made otherwise than ``method`` with its parameters now (a legacy
    hash, another method or cost): it is replaced at the user's next successful login."""
    return stored.split("$", 1)[0] != _method_of(method)


def _check_legacy_scrypt(password: str, stored: str) -> bool:
    try:
        _scheme, salt, expected = stored.split("$")
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=bytes.fromhex(salt), **_LEGACY_SCRYPT
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


@functools.lru_cache(maxsize=8)
def _dummy_hash(method: str) -> str:
    """A hash of ``method`` that no password matches: verified for an unknown login (or an
    account without a password), so that costs what a wrong password costs."""
    return hash_password(secrets.token_urlsafe(32), method)


def _method_of(method: str) -> str:
    """``method`` with werkzeug's defaults filled in (``scrypt`` -> ``scrypt:32768:8:1``), as
    it appears before the first ``$`` of a hash."""
    return _dummy_hash(method).split("$", 1)[0]


def hash_token(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


class UserStore:
    """Local accounts and their roles per repository. Thread-safe.

    New passwords are hashed by werkzeug's ``hash_method`` (``RunnerError`` at once for one it
    does not know); a stored hash of another method is verified and replaced at the next login.
    """

    def __init__(self, db: Database, *, hash_method: str = DEFAULT_HASH_METHOD):
        self.db = db
        if hash_method.split(":", 1)[0] not in _METHODS:
            raise RunnerError(
                f"unknown password hash method {hash_method!r}: use scrypt[:N:R:P] or "
                "pbkdf2[:HASH[:ITERATIONS]]"
            )
        self.hash_method = hash_method

    def create(self, login: str, password: str = "", *, is_admin: bool = False) -> User:
        """Add a user; raises ``Conflict`` when the login is taken."""
        login = login.strip()
        if not login:
            raise BadRequest("a user needs a login")
        row = UserRow(
            login=login,
            password_hash=hash_password(password, self.hash_method) if password else "",
            is_admin=is_admin,
            created=now(),
        )
        try:
            with self.db.write() as s:
                s.add(row)
                s.flush()
                return to_record(User, row)
        except IntegrityError:
            raise Conflict(f"user {login!r} exists already: pick another login") from None

    def get(self, user_id: int) -> User:
        row = self.db.first(select_by_id(table(UserRow)), {"p_id": user_id})
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        return to_record(User, row)

    def find(self, login: str) -> User | None:
        with self.db.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.login == login))
            return to_record(User, row) if row else None

    def get_by_login(self, login: str) -> User:
        user = self.find(login)
        if user is None:
            raise NotFound(f"no user {login!r}: list users with `runner user ls`")
        return user

    def all_users(self) -> list[User]:
        with self.db.session() as s:
            rows = s.scalars(select(UserRow).order_by(UserRow.login))
            return [to_record(User, r) for r in rows]

    def count(self) -> int:
        with self.db.session() as s:
            return len(s.scalars(select(UserRow.id)).all())

    def authenticate(self, login: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (also for unknown logins).

        A hash is verified whether or not the login exists (a throwaway one of the same method
        for an unknown login or an account without a password), so the time taken does not tell
        which logins exist. A right password stored by another method (a legacy scrypt hash,
        another cost) is hashed again by the store's method.
        """
        with self.db.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.login == login))
            stored = row.password_hash if row is not None and row.password_hash else ""
            matches = check_password(password, stored or _dummy_hash(self.hash_method))
            if not stored or not matches:
                return None
            user = to_record(User, row)
        if needs_rehash(stored, self.hash_method):
            self._rehash(user.id, stored, password)
        return user

    def set_password(self, user_id: int, password: str) -> None:
        """Change the password; every session of the user ends (its epoch moves on)."""
        self._update(
            user_id,
            password_hash=hash_password(password, self.hash_method),
            session_epoch=UserRow.session_epoch + 1,
        )

    def _rehash(self, user_id: int, stored: str, password: str) -> None:
        """Store ``password`` hashed by the current method in place of ``stored``; sessions
        stay (the password is the same). A password changed meanwhile is left alone."""
        with self.db.write() as s:
            s.execute(
                update(UserRow)
                .where(UserRow.id == user_id, UserRow.password_hash == stored)
                .values(password_hash=hash_password(password, self.hash_method))
            )

    def end_sessions(self, user_id: int) -> None:
        """Make every session cookie issued to the user so far invalid (logout)."""
        self._update(user_id, session_epoch=UserRow.session_epoch + 1)

    def set_theme(self, user_id: int, theme: str) -> None:
        """Store the web UI colour theme of the user ("" follows the system)."""
        self._update(user_id, theme=theme)

    def set_admin(self, user_id: int, is_admin: bool) -> None:
        self._update(user_id, is_admin=is_admin)

    def delete(self, user_id: int) -> None:
        """Remove the user, their roles and their tokens."""
        with self.db.write() as s:
            s.execute(delete(TokenRow).where(TokenRow.user_id == user_id))
            s.execute(delete(PermissionRow).where(PermissionRow.user_id == user_id))
            if affected(s.execute(delete(UserRow).where(UserRow.id == user_id))) == 0:
                raise NotFound(f"no user with id {user_id}")

    def grant(self, user_id: int, repo_id: int, role: str) -> None:
        """Give the user ``role`` (read, write, admin) on the repository, replacing any other."""
        if role not in ROLES:
            raise BadRequest(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        with self.db.write() as s:
            row = s.scalar(
                select(PermissionRow).where(
                    PermissionRow.user_id == user_id, PermissionRow.repo_id == repo_id
                )
            )
            if row is None:
                s.add(PermissionRow(user_id=user_id, repo_id=repo_id, role=role))
            else:
                row.role = role

    def revoke_role(self, user_id: int, repo_id: int) -> None:
        with self.db.write() as s:
            s.execute(
                delete(PermissionRow).where(
                    PermissionRow.user_id == user_id, PermissionRow.repo_id == repo_id
                )
            )

    def role(self, user_id: int, repo_id: int) -> str | None:
        """The user's role on the repository, None without one (admins are not consulted)."""
        with self.db.session() as s:
            return s.scalar(
                select(PermissionRow.role).where(
                    PermissionRow.user_id == user_id, PermissionRow.repo_id == repo_id
                )
            )

    def members(self, repo_id: int) -> list[tuple[User, str]]:
        """Users with a role on the repository, with that role."""
        with self.db.session() as s:
            rows = s.execute(
                select(UserRow, PermissionRow.role)
                .join(PermissionRow, PermissionRow.user_id == UserRow.id)
                .where(PermissionRow.repo_id == repo_id)
                .order_by(UserRow.login)
            )
            return [(to_record(User, u), role) for u, role in rows]

    def _update(self, user_id: int, **values: Any) -> None:
        with self.db.write() as s:
            if (
                affected(s.execute(update(UserRow).where(UserRow.id == user_id).values(**values)))
                == 0
            ):
                raise NotFound(f"no user with id {user_id}")


class TokenStore:
    """API tokens. Only a SHA-256 hash is stored; the plain token is shown once at creation."""

    def __init__(self, db: Database):
        self.db = db

    def create(
        self,
        name: str,
        *,
        kind: str = TOKEN_USER,
        user_id: int | None = None,
        agent_id: int | None = None,
    ) -> tuple[Token, str]:
        """A new token and its plain text (which cannot be recovered later)."""
        if kind not in (TOKEN_USER, TOKEN_AGENT):
            raise BadRequest(f"unknown token kind {kind!r}: use user or agent")
        if kind == TOKEN_USER and user_id is None:
            raise BadRequest("a user token needs its user")
        plain = ("rat_" if kind == TOKEN_AGENT else "rut_") + secrets.token_urlsafe(32)
        row = TokenRow(
            name=name,
            kind=kind,
            token_hash=hash_token(plain),
            user_id=user_id,
            agent_id=agent_id,
            created=now(),
        )
        with self.db.write() as s:
            s.add(row)
            s.flush()
            return to_record(Token, row), plain

    def verify(self, plain: str) -> Token | None:
        """The live (not revoked) token with this plain text, or None."""
        if not plain:
            return None
        row = self.db.first(_TOKEN_BY_HASH, {"p_hash": hash_token(plain)})
        if row is None or row.revoked:
            return None
        token = to_record(Token, row)
        stamp = now()
        if stamp - token.last_used > _LAST_USED_EVERY:
            with self.db.write() as s:
                s.execute(update(TokenRow).where(TokenRow.id == token.id).values(last_used=stamp))
            token.last_used = stamp
        return token

    def get(self, token_id: int) -> Token:
        with self.db.session() as s:
            row = s.get(TokenRow, token_id)
            if row is None:
                raise NotFound(f"no token with id {token_id}")
            return to_record(Token, row)

    def matching(self, *, user_id: int | None = None, kind: str | None = None) -> list[Token]:
        with self.db.session() as s:
            query = select(TokenRow).order_by(TokenRow.id)
            if user_id is not None:
                query = query.where(TokenRow.user_id == user_id)
            if kind is not None:
                query = query.where(TokenRow.kind == kind)
            return [to_record(Token, r) for r in s.scalars(query)]

    def revoke(self, token_id: int) -> None:
        """Make the token useless from now on (it stays listed, marked revoked)."""
        with self.db.write() as s:
            result = s.execute(update(TokenRow).where(TokenRow.id == token_id).values(revoked=True))
            if affected(result) == 0:
                raise NotFound(f"no token with id {token_id}")
