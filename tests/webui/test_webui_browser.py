"""In Chromium against seeded data: log rendering (ANSI, anchors, search), XSS shown as text,
a 6,000,000-line log showing its tail without freezing the page, keyboard use, and screenshots."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from webui_seed import XSS_BRANCH, XSS_LINE, XSS_MESSAGE

from tests.webui.conftest import browser_login

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _page(browser, **kwargs):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, **kwargs)
    return context, context.new_page()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_log_shows_ansi_colours_numbers_and_search(browser, served, seeded):
    context, page = _page(browser)
    try:
        browser_login(page, served.url, "writer")
        step = seeded.done.stages[0].steps[1]
        page.goto(f"{served.url}/repos/acme/web/{seeded.done.number}?step={step.id}#L5")
        page.wait_for_selector("#log[data-ready='1']")
        page.wait_for_selector("#L39")
        assert page.inner_text("#L1 > span") == "ok green line"
        assert page.eval_on_selector("#L1 > span > span", "e => e.className") == "f2"
        assert page.inner_text("#L3 > span") == XSS_LINE
        assert page.eval_on_selector("#L5", "e => e.classList.contains('target')")
        assert page.get_attribute("#L7 > a", "href") == "#L7"
        page.keyboard.press("/")
        page.keyboard.type("line 2")
        page.wait_for_function(
            "() => document.getElementById('log-hits').textContent.startsWith('10 ')"
        )
        assert page.eval_on_selector("#L4", "e => !e.classList.contains('hit')")
        assert page.eval_on_selector("#L20", "e => e.classList.contains('hit')")
        assert page.evaluate("window.__xss") is None
        with page.expect_download() as download:
            page.click("#log-raw")
        raw = Path(download.value.path()).read_text()
        assert raw.splitlines()[-1] == "line 39" and XSS_LINE in raw
        _shot(page, "build")
    finally:
        context.close()


def test_html_in_commit_branch_and_log_is_text_not_code(browser, served, seeded):
    context, page = _page(browser)
    try:
        browser_login(page, served.url, "reader")
        page.goto(f"{served.url}/repos/acme/web")
        assert XSS_MESSAGE.split("\n")[0] in page.inner_text("#build-rows")
        assert XSS_BRANCH in page.inner_text("#build-rows")
        page.goto(f"{served.url}/repos/acme/web/{seeded.xss.number}")
        page.wait_for_selector("#L2")
        assert page.inner_text("#L1 > span") == XSS_LINE
        assert page.inner_text("#L2 > span") == "error: boom"
        assert XSS_MESSAGE in page.inner_text("h1")
        page.goto(f"{served.url}/")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__xss") is None
        assert page.query_selector("svg[onload]") is None
        assert page.query_selector("img[src=x]") is None
    finally:
        context.close()


def test_keyboard_reaches_login_and_build_links(browser, served, seeded):
    context, page = _page(browser)
    try:
        page.goto(served.url + "/login")
        # The login field takes focus on load (autofocus); wait for it before typing.
        page.wait_for_function(
            "() => document.activeElement && document.activeElement.name === 'login'"
        )
        page.keyboard.type("reader")
        page.keyboard.press("Tab")
        page.keyboard.type("correct-horse-1")
        page.keyboard.press("Enter")
        page.wait_for_url(served.url + "/")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    finally:
        context.close()


def _seed_huge_log(stores, step_id: int, lines: int, per_chunk: int = 5000) -> None:
    """``lines`` lines as `seq` prints them (47 MB for 6,000,000: under the 64 MB cap)."""
    seq = 0
    for start in range(1, lines + 1, per_chunk):
        end = min(lines, start + per_chunk - 1)
        blob = "".join(f"{i}\n" for i in range(start, end + 1)).encode()  # like `seq`
        stores.logs.append(step_id, seq, blob)
        seq += 1


@pytest.mark.slow
def test_six_million_line_log_shows_its_tail_and_stays_responsive(browser, served, seeded, stores):
    total = 6_000_000
    step = seeded.done.stages[0].steps[0]
    _seed_huge_log(stores, step.id, total)
    context, page = _page(browser)
    try:
        browser_login(page, served.url, "reader")
        started = time.monotonic()
        page.goto(f"{served.url}/repos/acme/web/{seeded.done.number}?step={step.id}")
        page.wait_for_selector(f"#L{total}", timeout=120000)
        shown = time.monotonic() - started
        assert page.inner_text(f"#L{total} > span") == str(total)
        assert page.locator("#log .ln").count() <= 5000
        note = page.inner_text("#log-note")
        assert "download the raw log" in note and "6,000,000" in note
        # Responsiveness: round trips through the page's event loop while it scrolls and searches.
        worst = page.evaluate(
            """async () => {
                const box = document.getElementById('log');
                let worst = 0;
                for (let i = 0; i < 20; i++) {
                    const t = performance.now();
                    box.scrollTop = Math.random() * box.scrollHeight;
                    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
                    worst = Math.max(worst, performance.now() - t);
                }
                return worst;
            }"""
        )
        page.fill("#log-search", "5999999")
        page.wait_for_function(
            "() => document.getElementById('log-hits').textContent.startsWith('1 ')"
        )
        print(
            f"\n6,000,000-line log: tail shown after {shown:.2f}s; "
            f"worst scroll frame {worst:.1f} ms"
        )
        _shot(page, "huge-log")
    finally:
        context.close()


def test_screenshots_of_the_main_pages(browser, served, seeded):
    context, page = _page(browser)
    try:
        page.goto(served.url + "/login")
        _shot(page, "login")
        browser_login(page, served.url, "admin")
        page.goto(served.url + "/")
        _shot(page, "repositories")
        page.goto(served.url + "/repos/acme/web")
        _shot(page, "builds")
        page.goto(f"{served.url}/repos/acme/web/{seeded.blocked.number}")
        _shot(page, "build-approval")
        page.goto(f"{served.url}/repos/acme/web/{seeded.waiting.number}")
        page.wait_for_selector(".why:not([hidden])")
        _shot(page, "build-waiting")
        for path, name in (
            ("/repos/acme/web/settings", "settings-repo"),
            ("/repos/acme/web/settings/secrets", "settings-secrets"),
            ("/repos/acme/web/settings/environments", "settings-environments"),
            ("/repos/acme/web/settings/cron", "settings-cron"),
            ("/admin/agents", "admin-agents"),
            ("/admin/users", "admin-users"),
        ):
            page.goto(served.url + path)
            _shot(page, name)
    finally:
        context.close()
    for scheme in ("dark",):
        context, page = _page(browser, color_scheme=scheme)
        try:
            browser_login(page, served.url, "admin")
            step = seeded.xss.stages[0].steps[0]
            page.goto(f"{served.url}/repos/acme/web/{seeded.xss.number}?step={step.id}")
            page.wait_for_selector("#L2")
            _shot(page, f"build-{scheme}")
        finally:
            context.close()
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        browser_login(page, served.url, "admin")
        page.goto(served.url + "/repos/acme/web")
        _shot(page, "phone-builds")
        page.goto(f"{served.url}/repos/acme/web/{seeded.done.number}")
        page.wait_for_selector("#log[data-ready='1']")
        _shot(page, "phone-build")
    finally:
        context.close()


def test_ansi_codes_become_styles_and_other_escapes_vanish(browser, served, seeded):
    context, page = _page(browser)
    try:
        browser_login(page, served.url, "reader")
        page.goto(f"{served.url}/repos/acme/web/{seeded.done.number}")
        pieces = page.evaluate(
            r"""() => RunnerLog.ansiPieces(
                "\x1b[1;31mred\x1b[0m \x1b[38;5;208mamber\x1b[39m \x1b[48;2;1;2;3mbg\x1b[0m"
                + "\x1b]0;title\x07\x1b[2Kend", {})"""
        )
        texts = [p[0] for p in pieces]
        assert "".join(texts) == "red amber bgend"
        assert pieces[0][1] == {"b": True, "fg": 1}
        assert pieces[2][1]["fg"] == "rgb(255,135,0)"
        assert pieces[4][1]["bg"] == "rgb(1,2,3)"
    finally:
        context.close()


def test_the_events_page_filters_the_log_by_kind_and_actor(browser, served, seeded, app, stores):
    # Actions through the API of the same server: a cancel by writer, an approval by admin.
    client = app.test_client()
    for login, action, number in (
        ("writer", "cancel", seeded.running.number),
        ("admin", "approve", seeded.blocked.number),
    ):
        _token, plain = stores.tokens.create("t", user_id=stores.users.find(login).id)
        res = client.post(
            f"/api/v1/repos/acme/web/builds/{number}/{action}",
            headers={"Authorization": f"Bearer {plain}"},
        )
        assert res.status_code == 200, res.get_data(as_text=True)
    context, page = _page(browser)
    try:
        browser_login(page, served.url, "reader")
        page.goto(served.url + "/repos/acme/web")
        page.click("nav.actions >> text=Events")
        page.wait_for_selector("#events tbody tr[data-kind]")
        kinds = page.eval_on_selector_all("#events tbody tr", "rs => rs.map(r => r.dataset.kind)")
        assert kinds == ["build.approved", "build.cancelled"]
        page.fill("input[name=actor]", "writer")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**actor=writer**")
        rows = page.inner_text("#events tbody")
        assert "writer" in rows and "build.cancelled" in rows
        assert f"build #{seeded.running.number} cancelled" in rows and "approved" not in rows
        page.fill("input[name=actor]", "")
        page.fill("input[name=kind]", "build.approved")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**kind=build.approved**")
        assert page.eval_on_selector_all(
            "#events tbody tr", "rs => rs.map(r => r.dataset.kind)"
        ) == ["build.approved"]
        page.fill("input[name=kind]", "")
        page.click("form.filters button[type=submit]")
        page.wait_for_selector("#events tbody tr[data-kind='build.cancelled']")
        _shot(page, "events")
    finally:
        context.close()
