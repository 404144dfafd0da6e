"""The colour theme picked in the header (system, light or dark) is stored for the user on the
server and rendered into every page (``<html data-theme>``), so it holds in any browser the user
logs in from and is right from the first paint; visitors who are not logged in follow the
system's setting; a bad value or a forged form is refused. The dark colours of a picked theme
are the same as the system's dark ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.webui.conftest import browser_login, csrf_of, login

CSS = Path(__file__).parents[2] / "webui" / "static" / "app.css"
DARK_BG, LIGHT_BG = "rgb(13, 17, 23)", "rgb(255, 255, 255)"


def html_tag(client, path: str = "/") -> str:
    return re.search(r"<html[^>]*>", client.get(path).get_data(as_text=True)).group(0)


def pick(client, theme: str, next_url: str = "/repos/acme/web"):
    page = client.get("/").get_data(as_text=True)
    return client.post(
        "/preferences/theme",
        data={"csrf_token": csrf_of(page), "theme": theme, "next": next_url},
    )


def test_a_picked_theme_is_stored_for_the_user_and_rendered_in_every_browser(
    app, client_as, stores
):
    client = client_as("reader")
    assert html_tag(client) == '<html lang="en">'
    resp = pick(client, "dark")
    assert resp.status_code == 302 and resp.headers["Location"] == "/repos/acme/web"
    assert stores.users.find("reader").theme == "dark"
    assert html_tag(client, "/repos/acme/web") == '<html lang="en" data-theme="dark">'

    elsewhere = app.test_client()
    assert login(elsewhere, "reader").status_code == 302
    assert html_tag(elsewhere) == '<html lang="en" data-theme="dark">'
    assert 'value="dark" aria-pressed="true"' in elsewhere.get("/").get_data(as_text=True)

    assert pick(client, "system").status_code == 302
    assert stores.users.find("reader").theme == ""
    assert html_tag(elsewhere) == '<html lang="en">'
    assert html_tag(client_as("writer")) == '<html lang="en">', "one user's choice only"


@pytest.mark.parametrize("bad", ["purple", "auto", "<script>"])
def test_a_theme_that_is_not_offered_is_a_400(client_as, stores, bad):
    client = client_as("reader")
    resp = pick(client, bad)
    assert resp.status_code == 400
    assert "a theme is system, light or dark" in resp.get_data(as_text=True)
    assert stores.users.find("reader").theme == ""


def test_the_theme_form_needs_the_csrf_token_and_a_login(app, client_as, seeded, stores):
    forged = client_as("reader").post("/preferences/theme", data={"theme": "dark"})
    assert forged.status_code == 400 and stores.users.find("reader").theme == ""
    anonymous = app.test_client().post("/preferences/theme", data={"theme": "dark"})
    assert anonymous.status_code in (302, 400)
    assert stores.users.find("reader").theme == ""


def test_going_back_after_picking_never_leaves_the_site(client_as):
    resp = pick(client_as("reader"), "light", next_url="https://evil.example/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_the_picked_dark_colours_are_the_systems_dark_colours():
    css = CSS.read_text()
    system = re.search(
        r'@media \(prefers-color-scheme: dark\) \{\s*:root:not\(\[data-theme="light"\]\) \{'
        r"([^}]*)\}",
        css,
    ).group(1)
    picked = re.search(r':root\[data-theme="dark"\] \{([^}]*)\}', css).group(1)

    def variables(block: str) -> dict[str, str]:
        return dict(re.findall(r"(--[\w-]+):\s*([^;]+);", block))

    assert variables(system) and variables(picked) == variables(system)


@pytest.mark.browser
def test_the_header_control_switches_theme_and_it_wins_over_the_system(browser, served):
    context = browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(served.url + "/login")
        background = "() => getComputedStyle(document.body).backgroundColor"
        assert page.evaluate(background) == DARK_BG, "a visitor follows the system"
        browser_login(page, served.url, "reader")
        assert page.evaluate(background) == DARK_BG
        page.click("form.theme button[value=light]")
        page.wait_for_selector("html[data-theme=light]")
        page.wait_for_load_state("load")  # the redirect's page, stylesheet included
        assert page.evaluate(background) == LIGHT_BG
        assert page.get_attribute("form.theme button[value=light]", "aria-pressed") == "true"

        # A fresh page of another context of the same user is light from its first paint: the
        # choice is in the served markup, before any script has run (the computed colour is
        # read once the stylesheet has loaded, which "commit" does not wait for).
        other = browser.new_context(color_scheme="dark")
        try:
            second = other.new_page()
            browser_login(second, served.url, "reader")
            response = second.goto(served.url + "/repos/acme/web")
            assert '<html lang="en" data-theme="light">' in response.text()
            assert second.evaluate(background) == LIGHT_BG
        finally:
            other.close()

        page.click("form.theme button[value=system]")
        page.wait_for_selector("html:not([data-theme])")
        page.wait_for_load_state("load")
        assert page.evaluate(background) == DARK_BG
    finally:
        context.close()
