"""Users with hashed passwords and per-repository roles; tokens hashed, verifiable, revocable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from runner.core import TOKEN_AGENT, TOKEN_USER
from runner.errors import BadRequest, Conflict, NotFound
from runner.store.models import TokenRow, UserRow


def test_users_and_passwords(db, stores):
    alice = stores.users.create("alice", "correct horse", is_admin=True)
    assert alice.is_admin and alice.id > 0
    with db.session() as s:
        assert "correct horse" not in s.scalar(select(UserRow.password_hash))
    assert stores.users.authenticate("alice", "correct horse") == alice
    assert stores.users.authenticate("alice", "wrong") is None
    assert stores.users.authenticate("nobody", "correct horse") is None
    stores.users.set_password(alice.id, "battery staple")
    assert stores.users.authenticate("alice", "battery staple") is not None
    with pytest.raises(Conflict):
        stores.users.create("alice")
    assert stores.users.find("alice") == stores.users.get_by_login("alice")
    assert [u.login for u in stores.users.all_users()] == ["alice"]
    assert stores.users.count() == 1


def test_user_without_password_cannot_log_in(stores):
    stores.users.create("ci-bot")
    assert stores.users.authenticate("ci-bot", "") is None


def test_roles_per_repository(stores, repo):
    other = stores.repos.create("acme/other")
    bob = stores.users.create("bob")
    assert stores.users.role(bob.id, repo.id) is None
    stores.users.grant(bob.id, repo.id, "read")
    stores.users.grant(bob.id, repo.id, "write")
    assert stores.users.role(bob.id, repo.id) == "write"
    assert stores.users.role(bob.id, other.id) is None
    assert [(u.login, r) for u, r in stores.users.members(repo.id)] == [("bob", "write")]
    stores.users.revoke_role(bob.id, repo.id)
    assert stores.users.role(bob.id, repo.id) is None
    with pytest.raises(BadRequest):
        stores.users.grant(bob.id, repo.id, "owner")


def test_tokens_are_stored_hashed_and_can_be_revoked(db, stores):
    carol = stores.users.create("carol")
    token, plain = stores.tokens.create("laptop", user_id=carol.id)
    assert token.kind == TOKEN_USER
    with db.session() as s:
        assert s.scalar(select(TokenRow.token_hash)) != plain
    found = stores.tokens.verify(plain)
    assert found.id == token.id and found.user_id == carol.id and found.last_used > 0
    assert stores.tokens.verify(plain + "x") is None
    assert stores.tokens.verify("") is None
    stores.tokens.revoke(token.id)
    assert stores.tokens.verify(plain) is None
    assert stores.tokens.get(token.id).revoked
    with pytest.raises(NotFound):
        stores.tokens.revoke(9999)


def test_agent_tokens_are_their_own_kind(stores):
    agent = stores.agents.create("edge")
    token, plain = stores.tokens.create("edge", kind=TOKEN_AGENT, agent_id=agent.id)
    assert stores.tokens.verify(plain).agent_id == agent.id
    assert [t.id for t in stores.tokens.matching(kind=TOKEN_AGENT)] == [token.id]
    assert stores.tokens.matching(kind=TOKEN_USER) == []
    with pytest.raises(BadRequest):
        stores.tokens.create("no owner", kind=TOKEN_USER)


def test_deleting_a_user_removes_roles_and_tokens(stores, repo):
    dave = stores.users.create("dave")
    stores.users.grant(dave.id, repo.id, "admin")
    _token, plain = stores.tokens.create("t", user_id=dave.id)
    stores.users.delete(dave.id)
    assert stores.tokens.verify(plain) is None
    assert stores.users.members(repo.id) == []
    with pytest.raises(NotFound):
        stores.users.get(dave.id)
