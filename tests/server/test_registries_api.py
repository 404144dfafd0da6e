"""A repository's registries through the REST API: an admin of the repository adds, replaces,
lists and deletes them; the password goes in, is stored encrypted and never comes out; every
change is in the audit log without the password; a bad host or a missing password is a 400
that says what to write. As ``woodpecker-cli repo registry add|ls|rm`` (woodpecker-ci/woodpecker
server/api/registry.go and server/model/registry.go, ``Validate``)."""

from __future__ import annotations

import pytest

from tests.server.conftest import auth

URL = "/api/v1/repos/acme/app/registries"
PASSWORD = "ghp-Registry-Token-123"


def _add(client, token, **fields):
    body = {"hostname": "ghcr.io", "username": "bot", "password": PASSWORD, **fields}
    return client.post(URL, headers=auth(token), json=body)


def test_password_goes_in_encrypted_and_never_comes_out(client, stores, repo, tokens, settings):
    resp = _add(client, tokens["owner"])
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert PASSWORD not in resp.get_data(as_text=True)
    replaced = _add(client, tokens["owner"], username="bot2", password="second-" + PASSWORD)
    assert replaced.status_code == 201
    listed = client.get(URL, headers=auth(tokens["owner"]))
    assert [(r["hostname"], r["username"]) for r in listed.get_json()] == [("ghcr.io", "bot2")]
    assert PASSWORD not in listed.get_data(as_text=True)
    assert PASSWORD.encode() not in (settings.data_path / "runner.db").read_bytes()
    creds = stores.registries.credentials_of(repo.id)
    assert [(c.address, c.username, c.password) for c in creds] == [
        ("ghcr.io", "bot2", "second-" + PASSWORD)
    ]
    assert client.delete(f"{URL}/ghcr.io", headers=auth(tokens["owner"])).status_code == 200
    assert client.get(URL, headers=auth(tokens["owner"])).get_json() == []
    events = stores.audit.matching(subject="repo:acme/app")
    assert [e.kind for e in events].count("registry.set") == 2
    assert "registry.deleted" in [e.kind for e in events]
    assert all(PASSWORD not in e.message for e in events)


def test_a_url_or_docker_hub_alias_is_stored_as_its_host(client, tokens):
    resp = _add(client, tokens["owner"], hostname="https://index.docker.io/v1/")
    assert resp.get_json()["hostname"] == "docker.io"
    resp = _add(client, tokens["owner"], hostname="127.0.0.1:5000")
    assert resp.get_json()["hostname"] == "127.0.0.1:5000"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"hostname": "not a host!"}, "a registry needs a hostname"),
        ({"hostname": "http://[::1"}, "a registry needs a hostname"),  # no host readable
        ({"username": ""}, "a registry needs a username"),
        ({"username": "u" * 301}, "at most 300 characters"),
        ({"password": ""}, "non-empty password"),
    ],
)
def test_a_bad_entry_is_refused_with_what_to_write(client, tokens, fields, words):
    resp = _add(client, tokens["owner"], **fields)
    assert resp.status_code == 400
    assert words in resp.get_data(as_text=True)


@pytest.mark.parametrize("caller", ["writer", "read", "outsider", "none"])
def test_only_an_admin_of_the_repository_manages_registries(client, tokens, caller):
    token = tokens["write" if caller == "writer" else caller]
    assert _add(client, token).status_code in (401, 403, 404)
    assert client.get(URL, headers=auth(token)).status_code in (401, 403, 404)


def test_deleting_an_unknown_registry_is_not_found(client, tokens):
    resp = client.delete(f"{URL}/quay.io", headers=auth(tokens["owner"]))
    assert resp.status_code == 404
    assert "no registry quay.io" in resp.get_data(as_text=True)
