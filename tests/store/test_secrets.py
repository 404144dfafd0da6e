"""Secrets: encrypted at rest, never listed with values, handed out by event, image, environment;
for each one withheld from a step, the reason the step's log shows."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import select

from runner.errors import NotFound, RunnerError
from runner.settings import Settings
from runner.store import Cipher, SecretStore, Stores
from runner.store.crypto import load_key
from runner.store.models import SecretRow

VALUE = "s3cr3t-value-1234"


def test_values_are_encrypted_at_rest(db, stores, repo):
    stores.secrets.set(repo.id, "token", VALUE)
    with db.session() as s:
        stored = s.scalar(select(SecretRow.value))
    assert VALUE.encode() not in bytes(stored)
    assert stores.secrets.values_for(repo.id, event="push") == {"token": VALUE}


def test_list_and_get_never_carry_values(stores, repo):
    secret = stores.secrets.set(repo.id, "token", VALUE, images=["plugins/docker"])
    listed = stores.secrets.of_repo(repo.id)
    assert [s.name for s in listed] == ["token"]
    assert VALUE not in repr(listed) and VALUE not in repr(stores.secrets.get(secret.id))
    assert not hasattr(listed[0], "value")


def test_set_replaces_a_secret_of_the_same_name(stores, repo):
    stores.secrets.set(repo.id, "token", "old")
    stores.secrets.set(repo.id, "token", "new")
    assert len(stores.secrets.of_repo(repo.id)) == 1
    assert stores.secrets.values_for(repo.id, event="push") == {"token": "new"}
    stores.secrets.delete(repo.id, "token")
    assert stores.secrets.of_repo(repo.id) == []
    with pytest.raises(NotFound):
        stores.secrets.delete(repo.id, "token")


def test_filters_by_event_pull_request_image_and_environment(stores, repo):
    secrets = stores.secrets
    secrets.set(repo.id, "plain", "p")
    secrets.set(repo.id, "pr_ok", "q", allow_pull_request=True)
    secrets.set(repo.id, "tags_only", "t", events=["tag"])
    secrets.set(repo.id, "docker", "d", images=["plugins/docker"])
    secrets.set(repo.id, "deploy_key", "repo-wide")
    secrets.set(repo.id, "deploy_key", "prod-only", environment="production")
    secrets.set(repo.id, "prod_db", "db", environment="production")

    push = secrets.values_for(repo.id, event="push")
    assert push == {"plain": "p", "pr_ok": "q", "docker": "d", "deploy_key": "repo-wide"}
    assert set(secrets.values_for(repo.id, event="tag")) >= {"tags_only"}
    assert secrets.values_for(repo.id, event="pull_request") == {"pr_ok": "q"}
    assert secrets.values_for(repo.id, event="push", pull_request=True) == {"pr_ok": "q"}
    alpine = secrets.values_for(repo.id, event="push", image="alpine:3")
    assert "docker" not in alpine and "plain" in alpine
    docker = secrets.values_for(repo.id, event="push", image="plugins/docker:20")
    assert docker["docker"] == "d"
    # A step of that image with its own commands is not the plugin: no image-bound secret.
    script = secrets.values_for(repo.id, event="push", image="plugins/docker:20", plugin=False)
    assert "docker" not in script and script["plain"] == "p"
    prod = secrets.values_for(repo.id, event="promote", environment="production")
    assert prod["deploy_key"] == "prod-only" and prod["prod_db"] == "db"


def test_each_withheld_secret_has_the_reason_of_the_rule_that_withheld_it(stores, repo):
    secrets = stores.secrets
    secrets.set(repo.id, "plain", "p")
    secrets.set(repo.id, "tags_only", "t", events=["tag"])
    secrets.set(repo.id, "docker", "d", images=["plugins/docker"])
    secrets.set(repo.id, "prod_db", "db", environment="production")
    names = ["plain", "tags_only", "docker", "prod_db", "nope"]

    push = secrets.refusals(repo.id, names, event="push", image="runner-test/busybox")
    assert push == {
        "tags_only": "it is not allowed for push events (only tag)",
        "docker": "it is restricted to other images (plugins/docker)",
        "prod_db": "it is a secret of environment production, not of this build",
        "nope": "no such secret in this repository",
    }
    script = secrets.refusals(
        repo.id, ["docker"], event="push", image="plugins/docker:20", plugin=False
    )
    assert "a step with commands or an entrypoint cannot have" in script["docker"]
    assert secrets.refusals(repo.id, ["docker"], event="push", image="plugins/docker") == {}
    pull = secrets.refusals(repo.id, ["PLAIN"], event="pull_request")
    assert pull == {"PLAIN": "it is not allowed for pull requests"}
    # The build deploys to production, but the agent's labels do not fit it.
    elsewhere = secrets.refusals(repo.id, ["prod_db"], event="promote", target="production")
    assert "this agent's labels do not fit that environment" in elsewhere["prod_db"]


def test_secrets_of_other_repositories_stay_apart(stores, repo):
    other = stores.repos.create("acme/other")
    stores.secrets.set(other.id, "token", "theirs")
    assert stores.secrets.values_for(repo.id, event="push") == {}


def test_key_file_is_generated_once_with_mode_0600(tmp_path):
    first = load_key("", tmp_path)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key("", tmp_path) == first
    assert load_key("a passphrase", tmp_path) != first


def test_stores_from_settings_read_back_secrets_after_restart(db, repo, tmp_path):
    settings = Settings(data_dir=str(tmp_path / "data"))
    Stores(db, settings).secrets.set(repo.id, "token", VALUE)
    assert Stores(db, settings).secrets.values_for(repo.id, event="push") == {"token": VALUE}
    with_key = Settings(data_dir=str(tmp_path / "other"), secret_key="given key")
    Stores(db, with_key).secrets.set(repo.id, "token", "keyed")
    assert Stores(db, with_key).secrets.values_for(repo.id, event="push") == {"token": "keyed"}
    assert not (tmp_path / "other" / "secret.key").exists()


def test_wrong_key_says_how_to_recover(db, repo):
    SecretStore(db, Cipher.generate()).set(repo.id, "token", VALUE)
    with pytest.raises(RunnerError, match="secret.key"):
        SecretStore(db, Cipher.generate()).values_for(repo.id, event="push")
