"""In Chromium against the real app over a seeded store: big logs. A deep link far before the
tail loads and marks its line and the reader gets back to the tail, which kept following the
live log meanwhile; search covers the whole stored log (a line the page does not hold) and
Enter / Shift+Enter go from hit to hit across it; a `\\r` progress bar is one line with its
last text; ANSI inverse, strikethrough and OSC 8 links render (only http/https become links);
coloured backgrounds and foregrounds read at 4.5:1 in light and dark; 7-digit line numbers are
not clipped. Figures for docs/ui.md are printed with `pytest -s`, never asserted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.webui.conftest import browser_login

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
BIG = 200_000
MARKER = "zebra-marker-q7"  # only in line 3 of the big log

# Long tasks (main thread busy ≥ 50 ms) from the start of the page, for the figures.
LONG_TASKS = """
window.__busy = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__busy.push([e.startTime, e.duration]);
}).observe({ type: "longtask", buffered: true });
"""


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _seed_lines(stores, step_id: int, lines: list[str] | None, total: int = 0) -> None:
    """The lines, or ``total`` numbered lines ``output line N`` (line 3 holds MARKER), in
    chunks of 5,000 lines as an agent sends a busy step's output."""
    if lines is None:
        lines = [f"output line {i}" for i in range(1, total + 1)]
        lines[2] = f"output line 3 {MARKER}"
    for seq, start in enumerate(range(0, len(lines), 5000)):
        stores.logs.append(step_id, seq, "".join(x + "\n" for x in lines[start : start + 5000]))


def _open(browser, served, seeded, stores, *, fragment="", scheme="light", lines=None, total=BIG):
    step = seeded.done.stages[0].steps[0]
    _seed_lines(stores, step.id, lines, total)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
    context.add_init_script(LONG_TASKS)
    page = context.new_page()
    browser_login(page, served.url, "reader")
    started = time.monotonic()
    page.goto(f"{served.url}/repos/acme/web/{seeded.done.number}?step={step.id}{fragment}")
    return context, page, started


def test_a_deep_link_before_the_tail_shows_and_marks_its_line_and_the_tail_comes_back(
    browser, served, seeded, stores
):
    context, page, started = _open(browser, served, seeded, stores, fragment="#L190000")
    try:
        page.wait_for_selector("#L190000.target", timeout=60000)
        marked = time.monotonic() - started
        assert page.inner_text("#L190000 > span") == "output line 190000"
        assert page.locator("#L190000").is_visible()
        assert page.locator("#log .ln").count() <= 5000
        assert "Showing lines" in page.inner_text("#log-window")
        assert not page.is_checked("#follow")
        _shot(page, "big-log-window")
        page.click("#log-back")
        page.wait_for_selector(f"#L{BIG}")
        assert page.locator(f"#L{BIG}").is_visible()
        assert page.is_checked("#follow") and page.is_hidden("#log-window")
        assert page.locator("#L190000").count() == 0
        print(f"\n{BIG:,}-line log: deep link to line 190,000 shown and marked after {marked:.2f}s")
    finally:
        context.close()


def test_a_deep_link_into_the_tail_past_its_first_rendered_frames_marks_its_line(
    browser, served, seeded, stores
):
    # The tail holds lines 195,001-200,000, rendered 500 a frame: line 199,000 comes late.
    context, page, _started = _open(browser, served, seeded, stores, fragment="#L199000")
    try:
        page.wait_for_selector("#L199000.target", timeout=60000)
        assert page.locator("#L199000").is_visible()
        assert page.is_hidden("#log-window") and page.locator("#L195001").count() == 1
    finally:
        context.close()


def test_the_tail_keeps_following_while_a_window_is_shown_and_comes_back_with_new_lines(
    browser, served, seeded, stores, app
):
    step = seeded.running.stages[0].steps[0]
    _seed_lines(stores, step.id, None, BIG)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        browser_login(page, served.url, "reader")
        page.goto(f"{served.url}/repos/acme/web/{seeded.running.number}?step={step.id}#L1000")
        page.wait_for_selector("#L1000.target", timeout=60000)
        page.wait_for_function(
            "() => document.getElementById('log').dataset.streamState === 'live'"
        )
        fresh = "a line that arrived while the reader looked at line 1000"
        seq = BIG // 5000
        stores.logs.append(step.id, seq, fresh + "\n")
        app.extensions["runner"].livelog.publish(step.id, seq, [fresh])
        page.wait_for_function(
            "() => document.getElementById('log-window').textContent.includes('of 200,001')"
        )
        assert page.locator(f"#L{BIG + 1}").count() == 0  # queued aside, not in the window
        page.check("#follow")
        page.wait_for_selector(f"#L{BIG + 1}")
        assert page.inner_text(f"#L{BIG + 1} > span") == fresh
        assert page.locator(f"#L{BIG + 1}").is_visible() and page.is_hidden("#log-window")
    finally:
        context.close()


def test_the_tail_of_a_big_log_paints_fast_and_keeps_the_dom_bounded(
    browser, served, seeded, stores
):
    context, page, started = _open(browser, served, seeded, stores)
    try:
        page.wait_for_selector(f"#L{BIG}", timeout=60000)
        painted = time.monotonic() - started
        page.wait_for_selector("#log[data-ready='1']")
        page.wait_for_timeout(1500)  # let the queued frames of the tail render
        busy = page.evaluate("window.__busy.reduce((s, e) => s + e[1], 0)")
        longest = page.evaluate("Math.max(0, ...window.__busy.map((e) => e[1]))")
        assert page.locator("#log .ln").count() <= 5000
        assert "search and line links reach the others" in page.inner_text("#log-note")
        print(
            f"\n{BIG:,}-line log: tail painted {painted:.2f}s after navigation; main thread "
            f"busy in long tasks {busy:.0f} ms (longest {longest:.0f} ms)"
        )
    finally:
        context.close()


def test_a_tail_drawn_from_its_end_keeps_its_lines_in_order_and_colours_across_lines(
    browser, served, seeded, stores
):
    lines = [f"plain {i}" for i in range(1, 7001)]
    lines[2999] = "\x1b[31mred from here"  # no reset: the lines after it stay red
    lines[4999] = "\x1b[0mplain again"
    context, page, _started = _open(browser, served, seeded, stores, lines=lines)
    try:
        page.wait_for_selector("#L2001", state="attached", timeout=60000)
        page.wait_for_function("() => document.querySelectorAll('#log .ln').length === 5000")
        ids = page.eval_on_selector_all("#log .ln", "rows => rows.map(r => r.id)")
        assert ids == [f"L{n}" for n in range(2001, 7001)]
        assert page.eval_on_selector("#L4000 > span > span", "e => e.className") == "f1"
        assert page.eval_on_selector("#L2999 > span", "e => e.children.length") == 0
        assert page.eval_on_selector("#L6000 > span", "e => e.children.length") == 0
        assert page.locator("#L7000").is_visible()
    finally:
        context.close()


def test_search_finds_a_line_of_the_whole_log_that_the_page_does_not_hold(
    browser, served, seeded, stores
):
    context, page, _started = _open(browser, served, seeded, stores)
    try:
        page.wait_for_selector("#log[data-ready='1']", timeout=60000)
        assert page.locator("#L3").count() == 0
        asked = time.monotonic()
        page.fill("#log-search", MARKER.upper())
        page.wait_for_function(
            "() => document.getElementById('log-hits').textContent.endsWith('1 matching line')",
            timeout=60000,
        )
        answered = time.monotonic() - asked
        page.wait_for_selector("#L3.cur")
        assert page.inner_text("#L3 > span") == f"output line 3 {MARKER}"
        assert page.eval_on_selector("#L3", "e => e.classList.contains('hit')")
        page.fill("#log-search", "no such text anywhere")
        page.wait_for_function(
            "() => document.getElementById('log-hits').textContent === '0 matching lines'",
            timeout=60000,
        )
        print(f"\n{BIG:,}-line log: search over the whole log answered in {answered:.2f}s")
    finally:
        context.close()


def test_enter_and_shift_enter_move_between_hits_across_the_whole_log(
    browser, served, seeded, stores
):
    context, page, _started = _open(browser, served, seeded, stores)
    try:
        page.wait_for_selector("#log[data-ready='1']", timeout=60000)
        page.fill("#log-search", "output line 1500")  # 1500, 15000-15009, 150000-150099
        page.wait_for_selector("#L1500.cur", timeout=60000)
        hits = "document.getElementById('log-hits').textContent"
        page.wait_for_function(f"() => {hits}.endsWith(' of 111 matching lines')")
        page.press("#log-search", "Enter")
        page.wait_for_selector("#L15000.cur")
        assert page.locator("#L15001.hit").count() == 1
        page.press("#log-search", "Shift+Enter")
        page.press("#log-search", "Shift+Enter")
        page.wait_for_selector("#L150099.cur")
        page.wait_for_function(f"() => {hits} === '111 of 111 matching lines'")
        assert page.locator("#log .ln").count() <= 5000
    finally:
        context.close()


def test_a_carriage_return_progress_bar_is_one_line_with_its_final_text(
    browser, served, seeded, stores
):
    lines = [
        "before",
        "Downloading 10%\rDownloading 55%\rDownloading 100%",
        "\x1b[32mbuilding\x1b[0m ...\r\x1b[32mbuilt\x1b[0m",
        "after\r",
    ]
    context, page, _started = _open(browser, served, seeded, stores, lines=lines)
    try:
        page.wait_for_selector("#log[data-ready='1']")
        page.wait_for_selector("#L4")
        texts = page.eval_on_selector_all("#log .ln > span", "rows => rows.map(r => r.textContent)")
        assert texts == ["before", "Downloading 100%", "builting ...", "after"]
        assert page.eval_on_selector("#L3 > span > span", "e => e.className") == "f2"
    finally:
        context.close()


def test_inverse_strikethrough_and_only_web_hyperlinks_render(browser, served, seeded, stores):
    lines = [
        "\x1b[7minverse\x1b[27m \x1b[9mstruck\x1b[29m \x1b[31;7mred inverse\x1b[0m",
        "\x1b]8;;https://example.com/docs?a=1\x1b\\the docs\x1b]8;;\x1b\\ and "
        "\x1b]8;;javascript:alert(1)\x07not a link\x1b]8;;\x07 and "
        "\x1b]8;id=2;file:///etc/passwd\x1b\\a file\x1b]8;;\x1b\\",
    ]
    context, page, _started = _open(browser, served, seeded, stores, lines=lines)
    try:
        page.wait_for_selector("#L2")
        assert page.inner_text("#L1 > span") == "inverse struck red inverse"
        classes = page.eval_on_selector_all(
            "#L1 > span > span", "els => els.map(e => [e.textContent, e.className])"
        )
        assert ["inverse", "ainv"] in classes and ["struck", "as"] in classes
        assert ["red inverse", "b1"] in classes
        assert page.eval_on_selector("#L1 .as", "e => getComputedStyle(e).textDecorationLine") == (
            "line-through"
        )
        links = page.eval_on_selector_all(
            "#L2 a.ol", "els => els.map(e => [e.textContent, e.href, e.rel])"
        )
        assert links == [["the docs", "https://example.com/docs?a=1", "noopener noreferrer"]]
        assert page.inner_text("#L2 > span") == "the docs and not a link and a file"
        assert page.locator("#log a[href^='javascript'], #log a[href^='file']").count() == 0
    finally:
        context.close()


CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = rgb(c).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const box = document.getElementById("log");
  const logBg = getComputedStyle(box).backgroundColor;
  const worst = {};
  for (let i = 0; i < 16; i++) {
    const fg = document.createElement("span");
    fg.className = "f" + i;
    const bg = document.createElement("span");
    bg.className = "b" + i;
    box.append(fg, bg);
    worst["f" + i] = ratio(getComputedStyle(fg).color, logBg);
    worst["b" + i] = ratio(getComputedStyle(bg).color, getComputedStyle(bg).backgroundColor);
    fg.remove();
    bg.remove();
  }
  return worst;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_ansi_colours_read_at_4_5_to_1_in_both_themes(browser, served, seeded, stores, scheme):
    context, page, _started = _open(
        browser, served, seeded, stores, scheme=scheme, lines=["\x1b[41mred\x1b[0m"]
    )
    try:
        page.wait_for_selector("#L1")
        ratios = page.evaluate(CONTRAST)
        poor = {cls: round(r, 2) for cls, r in ratios.items() if r < 4.5}
        assert poor == {}, f"{scheme}: {poor}"
    finally:
        context.close()


def test_seven_digit_line_numbers_are_fully_visible(browser, served, seeded, stores):
    total = 1_000_050
    context, page, _started = _open(
        browser, served, seeded, stores, lines=[str(i) for i in range(1, total + 1)]
    )
    try:
        page.wait_for_selector(f"#L{total}", timeout=60000)
        gutter = page.eval_on_selector(
            f"#L{total} > a",
            "a => ({text: a.textContent, inner: a.clientWidth, needed: a.scrollWidth,"
            " room: a.getBoundingClientRect().width,"
            " digits: (() => { const r = document.createRange(); r.selectNodeContents(a);"
            " return r.getBoundingClientRect().width; })()})",
        )
        assert gutter["text"] == str(total)
        assert gutter["needed"] <= gutter["inner"]
        assert gutter["digits"] < gutter["room"]
    finally:
        context.close()
