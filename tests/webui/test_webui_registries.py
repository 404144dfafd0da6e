"""The secrets page lists a repository's registries (host and user) and adds or deletes them
through the same action as the API and the CLI: the password is write-only, a bad host is
refused next to its field, a writer cannot reach the page."""

from __future__ import annotations

from tests.webui.conftest import csrf_of

PAGE = "/repos/acme/web/settings/secrets"


def _add(client, **fields):
    page = client.get(PAGE).get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "hostname": "ghcr.io", "username": "bot", **fields}
    return client.post("/repos/acme/web/settings/registries", data=form)


def test_a_registry_added_on_the_page_is_listed_without_its_password(client_as, seeded, stores):
    client = client_as("admin")
    res = _add(client, password="ghp-page-Secret-1")
    assert res.status_code == 302
    html = client.get(PAGE).get_data(as_text=True)
    assert "ghcr.io" in html and "bot" in html and "ghp-page-Secret-1" not in html
    creds = stores.registries.credentials_of(seeded.repo.id)
    assert [(c.address, c.password) for c in creds] == [("ghcr.io", "ghp-page-Secret-1")]
    assert [e.actor for e in stores.audit.matching(subject="repo:acme/web")][-1] == "admin"

    form = {"csrf_token": csrf_of(html), "hostname": "ghcr.io"}
    assert client.post("/repos/acme/web/settings/registries/delete", data=form).status_code == 302
    assert stores.registries.of_repo(seeded.repo.id) == []


def test_a_bad_host_or_missing_password_is_refused_next_to_the_field(client_as, seeded, stores):
    res = _add(client_as("admin"), hostname="not a host", password="")
    html = res.get_data(as_text=True)
    assert res.status_code == 400
    assert 'id="e-hostname"' in html and 'id="e-password"' in html
    assert stores.registries.of_repo(seeded.repo.id) == []


def test_a_writer_cannot_add_a_registry(client_as, seeded, stores):
    writer = client_as("writer")
    assert writer.get(PAGE).status_code == 403
    own_page = writer.get(f"/repos/acme/web/{seeded.running.number}").get_data(as_text=True)
    form = {"csrf_token": csrf_of(own_page), "hostname": "ghcr.io", "username": "u"}
    res = writer.post("/repos/acme/web/settings/registries", data={**form, "password": "p"})
    assert res.status_code == 403
    assert stores.registries.of_repo(seeded.repo.id) == []
