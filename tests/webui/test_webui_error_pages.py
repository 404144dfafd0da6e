"""Errors of the web UI are pages in the site's frame: unknown addresses, repositories the user
may not read, missing builds, refused roles, stale forms, wrong methods and unexpected failures
answer a styled page with the header and navigation (escaped, with the pages' CSP), while API
paths keep answering JSON. Also: the login form's autocomplete attributes reach the browser,
and the favicon is served."""

from __future__ import annotations

import re

import pytest

from tests.webui.conftest import csrf_of


def frame(html: str) -> dict[str, bool]:
    """What of the site's frame a page has."""
    return {
        "stylesheet": '<link rel="stylesheet" href="/ui/static/app.css">' in html,
        "header": '<header class="top">' in html,
        "navigation": '<nav aria-label="Main">' in html,
        "repositories link": '<a href="/">Repositories</a>' in html,
    }


def test_an_unknown_address_is_a_404_page_with_the_header_for_anyone(app, seeded):
    resp = app.test_client().get("/no/such/<page>")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert frame(html) | {"repositories link": True} == dict.fromkeys(frame(html), True)
    assert '<h1 id="error-title">Page not found</h1>' in html
    assert "There is no page at /no/such/&lt;page&gt;." in html
    assert 'href="/login?next=/no/such/%3Cpage%3E"' in html
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


def test_a_logged_in_user_gets_the_navigation_on_an_unknown_address(client_as):
    html = client_as("admin").get("/no/such/page").get_data(as_text=True)
    assert all(frame(html).values()), frame(html)
    assert '<a href="/admin/agents">Agents</a>' in html
    assert "Your repositories" in html


@pytest.mark.parametrize(
    ("user", "path", "code", "title"),
    [
        ("reader", "/repos/acme/secret", 404, "Page not found"),
        ("reader", "/repos/acme/web/9999", 404, "Page not found"),
        ("reader", "/repos/acme/web/settings", 403, "Not allowed"),
        ("admin", "/admin/users/no-such-route", 404, "Page not found"),
        ("writer", "/admin/agents", 403, "Not allowed"),
        ("reader", "/logout", 405, "Not possible here"),
    ],
)
def test_refusals_and_missing_things_are_pages_in_the_frame(client_as, user, path, code, title):
    resp = client_as(user).get(path)
    html = resp.get_data(as_text=True)
    assert resp.status_code == code
    assert all(frame(html).values()), frame(html)
    assert f'<h1 id="error-title">{title}</h1>' in html
    assert f"Error {code}" in html
    if code == 405:
        assert "POST" in resp.headers["Allow"]


def test_a_stale_form_is_a_400_page_in_the_frame(client_as):
    resp = client_as("admin").post("/repos/acme/web/settings", data={"csrf_token": "stale"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and all(frame(html).values())
    assert "security token is missing or stale" in html


def test_an_unexpected_failure_is_a_500_page_without_details(app, seeded, client_as):
    def boom():
        raise RuntimeError("secret detail <b>")

    app.add_url_rule("/boom", "boom", boom)
    resp = client_as("reader").get("/boom")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 500 and all(frame(html).values())
    assert "Something went wrong" in html and "secret detail" not in html
    api = client_as("reader").get("/boom", headers={"Accept": "application/json"})
    assert api.status_code == 500 and "error" in api.get_json()


def test_a_page_refused_for_load_is_a_429_page_that_says_when_to_retry(app, seeded, client_as):
    from runner.errors import TooManyRequests

    def busy():
        raise TooManyRequests("you hold as many live views as you may", retry_after=7)

    # An endpoint named in the blueprint, so its errors go where the pages' own refusals go.
    app.add_url_rule("/busy", "webui.busy_probe", busy)
    resp = client_as("reader").get("/busy")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert all(frame(html).values()) and "Too many requests" in html
    assert "you hold as many live views as you may" in html


def test_api_paths_keep_answering_json(app, seeded):
    resp = app.test_client().get("/api/v1/no/such/thing")
    assert resp.status_code == 404 and resp.is_json and "error" in resp.get_json()
    assert app.test_client().get("/rpc/v1/nothing").is_json


def test_the_login_form_has_its_autocomplete_attributes(app, seeded):
    html = app.test_client().get("/login").get_data(as_text=True)
    assert "&#34;" not in html
    login = re.search(r'<input id="f-login"[^>]*>', html).group(0)
    password = re.search(r'<input id="f-password"[^>]*>', html).group(0)
    assert ' autocomplete="username"' in login and " required" in login
    assert ' autocomplete="current-password"' in password


def test_every_page_links_the_favicon_which_is_served(app, seeded, client_as):
    html = client_as("reader").get("/").get_data(as_text=True)
    assert '<link rel="icon" id="favicon" href="/ui/static/favicon.svg">' in html
    with app.test_client().get("/ui/static/favicon.svg") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert icon.get_data(as_text=True).lstrip().startswith("<svg")


def test_a_csrf_checked_form_on_the_error_page_still_logs_out(client_as):
    client = client_as("reader")
    page = client.get("/no/such/page").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert client.get("/").status_code == 302
