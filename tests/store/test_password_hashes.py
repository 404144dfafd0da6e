"""Password hashes by werkzeug: new ones are made by the configured method (scrypt unless a
setting says otherwise), hashes of the former ``scrypt$salt$hash`` form and of other methods
still log in and are replaced by the configured method at the next right login (not at a wrong
one), and an unknown method is refused when the store is made."""

from __future__ import annotations

import hashlib
import secrets

import pytest
from sqlalchemy import select, update

from runner.errors import RunnerError
from runner.settings import Settings, load_settings
from runner.store import Stores, UserStore
from runner.store.models import UserRow
from runner.store.users import check_password, hash_password
from runner.testing import CHEAP_PASSWORD_HASH

PASSWORD = "correct-horse-battery"


def legacy_hash(password: str) -> str:
    """A hash as the store wrote them before werkzeug: scrypt n=2**14, r=8, p=1."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def stored_hash(db, user_id: int) -> str:
    with db.session() as s:
        return s.scalar(select(UserRow.password_hash).where(UserRow.id == user_id))


def store_hash(db, user_id: int, value: str) -> None:
    with db.write() as s:
        s.execute(update(UserRow).where(UserRow.id == user_id).values(password_hash=value))


def test_a_server_hashes_with_scrypt_unless_configured_otherwise():
    assert Settings().password_hash_method == "scrypt"
    assert load_settings({}, environ={}).password_hash_method == "scrypt"
    cheap = load_settings({}, environ={"RUNNER_PASSWORD_HASH_METHOD": CHEAP_PASSWORD_HASH})
    assert cheap.password_hash_method == CHEAP_PASSWORD_HASH


def test_new_passwords_are_hashed_by_the_stores_method(db):
    strong = UserStore(db).create("alice", PASSWORD)
    cheap = UserStore(db, hash_method=CHEAP_PASSWORD_HASH).create("bob", PASSWORD)
    assert stored_hash(db, strong.id).startswith("scrypt:32768:8:1$")
    assert stored_hash(db, cheap.id).startswith("pbkdf2:sha256:1$")
    assert UserStore(db).authenticate("bob", PASSWORD).login == "bob"


def test_stores_take_the_method_of_their_settings(db, tmp_path):
    settings = load_settings(
        {"data_dir": str(tmp_path), "password_hash_method": CHEAP_PASSWORD_HASH}, environ={}
    )
    user = Stores(db, settings).users.create("alice", PASSWORD)
    assert stored_hash(db, user.id).startswith("pbkdf2:sha256:1$")


def test_a_legacy_scrypt_hash_logs_in_and_is_rehashed_at_that_login(db):
    users = UserStore(db)
    user = users.create("alice")
    old = legacy_hash(PASSWORD)
    store_hash(db, user.id, old)

    assert users.authenticate("alice", "wrong-password") is None
    assert stored_hash(db, user.id) == old  # a wrong password changes nothing

    assert users.authenticate("alice", PASSWORD).id == user.id
    new = stored_hash(db, user.id)
    assert new != old and new.startswith("scrypt:32768:8:1$")
    assert users.authenticate("alice", PASSWORD).id == user.id
    assert stored_hash(db, user.id) == new  # once in the current form, it stays
    assert users.get(user.id).session_epoch == 0  # the same password: sessions go on


def test_a_hash_of_another_method_is_replaced_by_the_configured_one_at_login(db):
    cheap = UserStore(db, hash_method=CHEAP_PASSWORD_HASH)
    user = cheap.create("alice", PASSWORD)
    strong = UserStore(db)
    assert strong.authenticate("alice", PASSWORD).id == user.id
    assert stored_hash(db, user.id).startswith("scrypt:32768:8:1$")


def test_legacy_and_werkzeug_hashes_verify_only_their_password():
    for stored in (legacy_hash(PASSWORD), hash_password(PASSWORD, CHEAP_PASSWORD_HASH)):
        assert check_password(PASSWORD, stored)
        assert not check_password(PASSWORD + "x", stored)
    for broken in ("", "scrypt$zz$00", "plain", "md5$a$b", "scrypt$00"):
        assert not check_password(PASSWORD, broken)


def test_an_unknown_hash_method_is_refused_when_the_store_is_made(db):
    with pytest.raises(RunnerError, match="password hash method 'md5'"):
        UserStore(db, hash_method="md5")
