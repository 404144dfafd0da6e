"""Actions on local accounts: create one, change its password, end its sessions, log in.

The REST API, the web UI and ``runner user`` call these, so the password rule and the session
revocation hold everywhere. A session cookie carries the user's ``session_epoch``; moving the
epoch on (logout, password change) makes every cookie issued before refused.
"""

from __future__ import annotations

from runner.core import User
from runner.errors import BadRequest, Conflict
from runner.server.login_throttle import LoginThrottle

# Shortest password of a user; a server admin holds the keys to every repository and agent,
# so their passwords are longer (NIST SP 800-63B asks for at least 8).
MIN_PASSWORD = 8
MIN_ADMIN_PASSWORD = 12
MAX_PASSWORD = 1024


def check_password_rule(password, *, is_admin: bool) -> str:
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


def create_user(stores, login: str, password: str, *, is_admin: bool = False) -> User:
    """Add a local account; ``BadRequest`` for a short password, ``Conflict`` for a taken login."""
    check_password_rule(password, is_admin=is_admin)
    if stores.users.find(login) is not None:
        raise Conflict(f"user {login} exists")
    return stores.users.create(login, password, is_admin=is_admin)


def change_password(stores, user: User, password: str) -> None:
    """Set a new password; every session of the user ends (API tokens stay valid)."""
    check_password_rule(password, is_admin=user.is_admin)
    stores.users.set_password(user.id, password)


def log_in(stores, throttle: LoginThrottle, login: str, password: str, address: str):
    """The user whose password this is, or None; ``LoginThrottled`` (429) after too many
    wrong passwords for the login or from ``address`` (the password is then not checked)."""
    throttle.check(login, address)
    user = stores.users.authenticate(login, password)
    if user is None:
        throttle.failed(login, address)
        return None
    throttle.succeeded(login, address)
    return user
