"""Each log line's time since its step started, against a real `runner server` with its agent
and Docker: a step printing `a`, sleeping 3 s and printing `b` has `b` stored at least 2 s after
`a` (through the API); in Chromium the log's "Times" switch (keyboard operable, off at first)
shows a time beside each line of a running step, for the tail and for lines arriving live,
is remembered across a reload, reaches lines loaded around a deep link, and leaves the page
free of serious axe violations in light and dark."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from runner import testing
from runner.testing import LocalRepo, github_push
from tests.fixtures.browser import chromium as launch_chromium
from tests.fixtures.browser import log_in

# Beside the browser-heavy modules, one after another (see test_webui_live.py).
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.xdist_group("chromium-heavy")]

SLUG = "acme/times"
PASSWORD = "admin-pass-1"
DEADLINE = 60_000  # ms, for what a loaded machine may be slow to show
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
A_THEN_B = [
    "echo a",
    "sleep 3",
    "echo b",
    'for i in $(seq 1 900); do echo "tick $i"; sleep 1; done',  # prints until cancelled
]
TIME = re.compile(r"^(?:\d+:)?\d+:\d\d$")


class Site:
    """A server with its agent and a repository whose builds are made by webhooks."""

    def __init__(self, root: Path):
        # Two slots: the module's running build keeps one until the module ends.
        self.server = testing.ServerProcess(
            root / "data",
            admin_password=PASSWORD,
            capacity=2,
            agent_name=f"times-{uuid.uuid4().hex[:8]}",
        )
        self.server.start()
        self.repo = LocalRepo(root)
        self.admin = self.server.token("admin")
        resp = self.server.api(
            "POST",
            "/repos",
            self.admin,
            json={"slug": SLUG, "forge": "github", "clone_url": self.repo.clone_url},
        )
        assert resp.status_code == 201, resp.text
        self.secret = resp.json()["webhook_secret"]

    def push(self, commands: list[str], branch: str) -> int:
        """A build of one step ``main`` running ``commands``; its number."""
        listed = "".join(f"  - {c}\n" for c in commands)
        text = (
            "kind: pipeline\nname: build\nsteps:\n"
            f"- name: main\n  image: runner-test/busybox\n  commands:\n{listed}"
        )
        sha = self.repo.commit({".drone.yml": text}, f"Build {branch}", branch=branch)
        headers, body = github_push(SLUG, self.repo, sha, self.secret, branch=branch)
        resp = self.server.post_hook(SLUG, headers, body)
        assert resp.status_code in (200, 201), resp.text
        builds = self.server.api("GET", f"/repos/{SLUG}/builds?branch={branch}", self.admin)
        return int(builds.json()[0]["number"])

    def step(self, number: int, status: str = "running") -> dict:
        """The build's step ``main`` once it has ``status``."""
        build = self.server.wait_build(
            SLUG,
            number,
            self.admin,
            lambda b: b["stages"][0]["steps"][-1]["status"] == status,
            180,
        )
        return build["stages"][0]["steps"][-1]

    def lines(self, number: int, first: int = 1, count: int = 200) -> dict:
        """Lines of the build's step ``main`` (after the clone step) from ``first`` on."""
        path = f"/repos/{SLUG}/builds/{number}/logs/1/2/lines?from={first}&count={count}"
        resp = self.server.api("GET", path, self.admin)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait_lines(self, number: int, wanted: str, seconds: float = 120) -> dict:
        """The log's first lines once ``wanted`` is among them."""
        got: dict = {}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = self.lines(number)
            if wanted in got["lines"]:
                return got
            time.sleep(0.3)
        raise AssertionError(f"no line {wanted!r} in {seconds}s; the log began {got.get('lines')}")


def time_of(got: dict, text: str) -> int | None:
    """The ms of the line ``text`` of a /lines answer, from its marks."""
    line = got["first_line"] + got["lines"].index(text)
    found = None
    for at, ms in got["times"]:
        if at <= line:
            found = ms
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory, docker_client):
    world = Site(tmp_path_factory.mktemp("webui-times"))
    yield world
    world.server.stop()


@pytest.fixture(scope="module")
def running(site):
    """A running build whose step printed `a`, 3 s later `b`, and ticks each second since."""
    number = site.push(A_THEN_B, f"times-{uuid.uuid4().hex[:6]}")
    site.step(number)
    site.wait_lines(number, "b")
    yield number
    site.server.api("POST", f"/repos/{SLUG}/builds/{number}/cancel", site.admin)


def test_a_line_printed_3_s_later_is_stored_at_least_2_s_later(site, running):
    got = site.wait_lines(running, "b")
    a, b = time_of(got, "a"), time_of(got, "b")
    assert a is not None and b is not None, f"times of a and b: {a}, {b} ({got['times']})"
    assert b - a >= 2000, f"a at {a} ms, b at {b} ms"


@pytest.fixture(scope="module")
def browser():
    with launch_chromium() as b:
        yield b


ROW_TIME = """(text) => {
  const row = [...document.querySelectorAll('#log .ln')].find(
    (r) => r.querySelector(':scope > span').textContent === text);
  if (!row) return null;
  const cell = row.querySelector(':scope > time');
  return {text: cell.textContent, shown: getComputedStyle(cell).display !== 'none'};
}"""


def seconds(text: str) -> int:
    total = 0
    for part in text.split(":"):
        total = total * 60 + int(part)
    return total


def wait_row_time(page, text: str, shown: bool = True) -> dict:
    """The time cell of the row showing ``text`` once it is (or is not) displayed."""
    check = f"(t) => {{ const c = ({ROW_TIME})(t); return c && c.shown === {str(shown).lower()}; }}"
    try:
        page.wait_for_function(check, arg=text, timeout=DEADLINE)
    except Exception as exc:
        seen = page.evaluate(ROW_TIME, text)
        state = page.evaluate(
            "() => ({times: document.getElementById('log').className,"
            " rows: document.querySelectorAll('#log .ln').length,"
            " last: (document.querySelector('#log .ln:last-child') || {}).textContent,"
            " state: document.getElementById('log-state').textContent})"
        )
        raise AssertionError(f"row {text!r}: time cell {seen}, page {state}") from exc
    return page.evaluate(ROW_TIME, text)


def last_tick(page) -> int:
    texts = page.eval_on_selector_all("#log .ln > span", "rs => rs.map(r => r.textContent)")
    ticks = [int(t.split()[1]) for t in texts if t.startswith("tick ")]
    return max(ticks, default=0)


def serious_axe(page) -> list[str]:
    results = Axe().run(page, options={"resultTypes": ["violations"]})
    return [
        f"{v['id']} on {[n['target'] for n in v['nodes'][:3]]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.browser
def test_times_show_beside_a_running_steps_lines_and_survive_a_reload(site, running, browser):
    step = site.step(running)
    context = browser.new_context()
    try:
        page = context.new_page()
        log_in(page, site.server.url, "admin", PASSWORD)
        page.goto(f"{site.server.url}/repos/{SLUG}/{running}?step={step['id']}")
        assert wait_row_time(page, "b", shown=False)["text"], "b has a time, hidden"
        switch = page.locator("#log-times")
        assert not switch.is_checked(), "Times is off until the reader asks for it"
        switch.focus()
        page.keyboard.press("Space")
        a, b = wait_row_time(page, "a"), wait_row_time(page, "b")
        assert TIME.match(a["text"]) and TIME.match(b["text"]), (a, b)
        assert seconds(b["text"]) - seconds(a["text"]) >= 2, (a, b)

        # A line that arrives live after the switch has its time too.
        seen = last_tick(page)
        page.wait_for_function(
            "(n) => [...document.querySelectorAll('#log .ln > span')].some("
            "s => s.textContent.startsWith('tick ') && +s.textContent.slice(5) > n)",
            arg=seen,
            timeout=DEADLINE,
        )
        fresh = f"tick {last_tick(page)}"
        assert TIME.match(wait_row_time(page, fresh)["text"]), fresh
        page.locator("#log-panel").screenshot(path=str(SHOTS / "build-log-times.png"))

        problems = serious_axe(page)
        page.emulate_media(color_scheme="dark")
        problems += serious_axe(page)
        assert not problems, problems

        page.reload()
        page.wait_for_selector("#log[data-ready='1']", timeout=DEADLINE)
        assert TIME.match(wait_row_time(page, "a")["text"])
        assert page.locator("#log-times").is_checked(), "the choice survives a reload"
        page.locator("#log-times").focus()
        page.keyboard.press("Space")
        wait_row_time(page, "a", shown=False)
        assert page.evaluate("localStorage.getItem('runner.log.times')") == "0"
    finally:
        context.close()


@pytest.mark.browser
def test_lines_loaded_around_a_deep_link_have_their_times(site, browser):
    # 6,000 lines: more than the page keeps, so line 10 comes from the server on demand.
    number = site.push(['seq 1 6000 | sed "s/^/n /"'], f"deep-{uuid.uuid4().hex[:6]}")
    step = site.step(number, "success")
    context = browser.new_context()
    try:
        page = context.new_page()
        log_in(page, site.server.url, "admin", PASSWORD)
        page.goto(f"{site.server.url}/repos/{SLUG}/{number}?step={step['id']}")
        page.wait_for_selector("#log[data-ready='1']", timeout=DEADLINE)
        page.locator("#log-times").check()
        page.evaluate("location.hash = '#L10'")
        page.wait_for_selector("#log-window:not([hidden])", timeout=DEADLINE)
        cell = wait_row_time(page, "n 10")
        assert TIME.match(cell["text"]), cell
    finally:
        context.close()
