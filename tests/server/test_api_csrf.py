"""An unsafe API call authenticated by the web UI's session cookie needs the page's CSRF token
in the X-CSRF-Token header (403 with the reason otherwise); reads with the cookie, and calls
with a Bearer token, need none."""

from __future__ import annotations

import re

import pytest

from tests.server.conftest import ADMIN_PASSWORD, auth

NEW_REPO = {"slug": "acme/site", "forge": "generic", "clone_url": "file:///nonexistent"}


def logged_in_token(client) -> str:
    """Log in as the admin through the login form; the CSRF token the next page carries."""
    form = client.get("/login").get_data(as_text=True)
    field = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    resp = client.post(
        "/login", data={"login": "admin", "password": ADMIN_PASSWORD, "csrf_token": field}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    page = client.get("/").get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


def test_cookie_without_the_header_is_refused(client, stores):
    logged_in_token(client)
    resp = client.post("/api/v1/repos", json=NEW_REPO)
    assert resp.status_code == 403
    assert "X-CSRF-Token" in resp.get_json()["error"]
    assert stores.repos.find("acme/site") is None


@pytest.mark.parametrize("sent", ["", "not-the-token"])
def test_cookie_with_a_wrong_header_is_refused(client, stores, sent):
    logged_in_token(client)
    resp = client.post("/api/v1/repos", json=NEW_REPO, headers={"X-CSRF-Token": sent})
    assert resp.status_code == 403
    assert stores.repos.find("acme/site") is None


def test_cookie_with_the_pages_token_is_accepted(client, stores):
    token = logged_in_token(client)
    resp = client.post("/api/v1/repos", json=NEW_REPO, headers={"X-CSRF-Token": token})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    resp = client.delete("/api/v1/repos/acme/site", headers={"X-CSRF-Token": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert stores.repos.find("acme/site").active is False


def test_cookie_reads_need_no_header(client):
    logged_in_token(client)
    resp = client.get("/api/v1/user")
    assert resp.status_code == 200
    assert resp.get_json()["login"] == "admin"


def test_bearer_token_needs_no_header(client, stores, tokens):
    resp = client.post("/api/v1/repos", json=NEW_REPO, headers=auth(tokens["admin"]))
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_bearer_token_beside_a_cookie_needs_no_header(client, stores, tokens):
    logged_in_token(client)
    resp = client.post("/api/v1/repos", json=NEW_REPO, headers=auth(tokens["admin"]))
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_pages_load_the_script_that_sends_the_header(client):
    logged_in_token(client)
    page = client.get("/").get_data(as_text=True)
    assert "/ui/static/csrf.js" in page
    with client.get("/ui/static/csrf.js") as resp:
        assert "X-CSRF-Token" in resp.get_data(as_text=True)
