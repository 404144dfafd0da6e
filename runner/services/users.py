"""Actions on local accounts and their API tokens: create, change, delete, log in.

The password rule and session revocation hold for the API, the pages and the CLI alike. A
session cookie carries the user's ``session_epoch``; moving the epoch on (logout, password
change) makes every cookie issued before refused. Token values are answered once, when made.
"""

from __future__ import annotations

import re
from typing import Any

from runner.core import TOKEN_USER, Token, User
from runner.errors import BadRequest, Conflict, NotFound
from runner.store import Stores

# Shortest password of a user; a server admin holds the keys to every repository and agent,
# so their passwords are longer (NIST SP 800-63B asks for at least 8).
MIN_PASSWORD = 8
MIN_ADMIN_PASSWORD = 12
MAX_PASSWORD = 1024
LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_TOKEN_NAME = 100


def check_password_rule(password: object, *, is_admin: bool) -> str:
    """``password`` when it is long enough for the account; ``BadRequest`` saying the rule."""
    if not isinstance(password, str):
        raise BadRequest("a password is text")
    shortest = MIN_ADMIN_PASSWORD if is_admin else MIN_PASSWORD
    if len(password) < shortest:
        who = "a server admin's password" if is_admin else "a password"
        raise BadRequest(f"{who} needs at least {shortest} characters")
    if len(password) > MAX_PASSWORD:
        raise BadRequest(f"a password has at most {MAX_PASSWORD} characters")
    return password


def check_login(login: object) -> str:
    """``login`` trimmed when it is letters, digits, ``_ . -`` (starting with a letter or
    digit, at most 100); ``BadRequest`` otherwise."""
    text = login.strip() if isinstance(login, str) else ""
    if not LOGIN.match(text):
        raise BadRequest(
            "a user needs a login of letters, digits, '-', '_' or '.' starting with a letter "
            "or digit (at most 100)"
        )
    return text


def create_user(
    stores: Stores, login: object, password: object, *, is_admin: bool = False, actor: str = ""
) -> User:
    """Add a local account; ``BadRequest`` for a bad login or short password, ``Conflict`` for
    a taken login. Recorded in the audit log as done by ``actor``."""
    login = check_login(login)
    password = check_password_rule(password, is_admin=is_admin)
    if stores.users.find(login) is not None:
        raise Conflict(f"user {login} exists")
    user: User = stores.users.create(login, password, is_admin=is_admin)
    role = "server admin" if is_admin else "user"
    stores.audit.record("user.created", subject(login), f"user {login} created ({role})", actor)
    return user


def find_user(stores: Stores, login: str) -> User:
    """The account ``login``; ``NotFound`` when there is none."""
    user: User | None = stores.users.find(login)
    if user is None:
        raise NotFound(f"no user {login}")
    return user


def change_password(stores: Stores, user: User, password: object, *, actor: str = "") -> None:
    """Set a new password; every session of the user ends (API tokens stay valid)."""
    password = check_password_rule(password, is_admin=user.is_admin)
    stores.users.set_password(user.id, password)
    stores.audit.record(
        "user.password", subject(user.login), f"password of {user.login} changed", actor
    )


def set_admin(stores: Stores, user: User, is_admin: bool, *, actor: str = "") -> User:
    """Make ``user`` a server admin or take it back."""
    stores.users.set_admin(user.id, bool(is_admin))
    words = f"{user.login} {'made a server admin' if is_admin else 'no longer a server admin'}"
    stores.audit.record("user.admin", subject(user.login), words, actor)
    changed: User = stores.users.get(user.id)
    return changed


def delete_user(stores: Stores, user: User, actor: User) -> None:
    """Delete ``user``; ``BadRequest`` when it is ``actor`` (another admin must do it)."""
    if user.id == actor.id:
        raise BadRequest("you cannot delete yourself; ask another admin")
    stores.users.delete(user.id)
    stores.audit.record(
        "user.deleted", subject(user.login), f"user {user.login} deleted", actor.login
    )


def log_in(stores: Stores, throttle: Any, login: str, password: str, address: str) -> User | None:
    """The user whose password this is, or None; ``LoginThrottled`` (429) after too many
    wrong passwords for the login or from ``address`` (the password is then not checked)."""
    throttle.check(login, address)
    user: User | None = stores.users.authenticate(login, password)
    if user is None:
        throttle.failed(login, address)
        return None
    throttle.succeeded(login, address)
    return user


def log_out(stores: Stores, user: User) -> None:
    """End every session of ``user`` (API tokens stay valid)."""
    stores.users.end_sessions(user.id)


THEMES = ("", "light", "dark")


def set_theme(stores: Stores, user: User, theme: object) -> str:
    """Remember the web UI colour theme of ``user``: "" (or "system") follows the browser's
    setting, "light" or "dark" is used on every page the user opens; ``BadRequest`` otherwise.
    Returns the stored value. A preference, not a change of rights: no audit entry."""
    value = theme.strip() if isinstance(theme, str) else None
    if value == "system":
        value = ""
    if value not in THEMES:
        raise BadRequest("a theme is system, light or dark")
    stores.users.set_theme(user.id, value)
    return value


def create_token(
    stores: Stores, owner: User, name: object, *, actor: str = "", how: str = ""
) -> tuple[Token, str]:
    """A new API token of ``owner`` named ``name`` (empty: ``api``) and its value, shown once;
    ``BadRequest`` for a name over 100 characters. ``how`` it was made goes into the audit log."""
    text = name.strip() if isinstance(name, str) else ""
    if len(text) > MAX_TOKEN_NAME:
        raise BadRequest(f"a token's name has at most {MAX_TOKEN_NAME} characters")
    token, plain = stores.tokens.create(text or "api", kind=TOKEN_USER, user_id=owner.id)
    message = f"new API token {token.name!r} of {owner.login}" + (f" {how}" if how else "")
    stores.audit.record("token.created", subject(owner.login), message, actor)
    return token, plain


def tokens_of(stores: Stores, owner: User) -> list[Token]:
    """``owner``'s API tokens, revoked ones too (marked), oldest first; never their values."""
    tokens: list[Token] = stores.tokens.matching(user_id=owner.id, kind=TOKEN_USER)
    return tokens


def revoke_token(stores: Stores, token_id: int, *, owner: User | None, actor: str = "") -> None:
    """Revoke token ``token_id``; with ``owner``, only one of that user's (``NotFound``
    otherwise, so nobody learns which ids exist)."""
    try:
        token: Token = stores.tokens.get(token_id)
    except NotFound:
        raise NotFound(f"you have no token {token_id}") from None
    if token.kind != TOKEN_USER or (owner is not None and token.user_id != owner.id):
        raise NotFound(f"you have no token {token_id}")
    stores.tokens.revoke(token_id)
    holder: User | None = None
    if token.user_id is not None:
        try:
            holder = stores.users.get(token.user_id)
        except NotFound:
            holder = None
    who = holder.login if holder is not None else f"#{token.user_id}"
    stores.audit.record(
        "token.revoked", subject(who), f"API token {token.name!r} of {who} revoked", actor
    )


def subject(login: str) -> str:
    """The audit log subject of user ``login``."""
    return f"user:{login}"
