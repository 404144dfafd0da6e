"""Registries: one per host and repository, passwords encrypted at rest, never in what
``find``/``of_repo`` return, handed out in plain text only by ``credentials_of``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from runner.errors import NotFound
from runner.pipeline.registry_auth import RegistryAuth
from runner.store.models import RegistryRow

PASSWORD = "Registry-pa55-store"


def test_password_is_encrypted_at_rest_and_only_credentials_of_reads_it(db, stores, repo):
    stores.registries.set(repo.id, "ghcr.io", "bot", PASSWORD)
    with db.session() as s:
        stored = s.scalar(select(RegistryRow.password))
    assert PASSWORD.encode() not in bytes(stored)
    listed = stores.registries.of_repo(repo.id)
    assert [(r.hostname, r.username) for r in listed] == [("ghcr.io", "bot")]
    assert PASSWORD not in repr(listed) + repr(stores.registries.find(repo.id, "ghcr.io"))
    assert stores.registries.credentials_of(repo.id) == [RegistryAuth("ghcr.io", "bot", PASSWORD)]


def test_set_replaces_the_credentials_of_the_same_host_and_delete_removes_them(stores, repo):
    stores.registries.set(repo.id, "quay.io", "old", "old-pass")
    stores.registries.set(repo.id, "quay.io", "new", "new-pass")
    stores.registries.set(repo.id, "docker.io", "hub", "hub-pass")
    assert stores.registries.credentials_of(repo.id) == [
        RegistryAuth("docker.io", "hub", "hub-pass"),
        RegistryAuth("quay.io", "new", "new-pass"),
    ]
    stores.registries.delete(repo.id, "quay.io")
    assert [r.hostname for r in stores.registries.of_repo(repo.id)] == ["docker.io"]
    with pytest.raises(NotFound):
        stores.registries.delete(repo.id, "quay.io")


def test_another_repository_sees_none_of_them(stores, repo):
    other = stores.repos.create("acme/other", forge="github", clone_url="file:///x")
    stores.registries.set(repo.id, "ghcr.io", "bot", PASSWORD)
    assert stores.registries.of_repo(other.id) == []
    assert stores.registries.credentials_of(other.id) == []
