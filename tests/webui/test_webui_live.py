"""The browser's one live connection, in Chromium against a real `runner server` with its agent
and Docker: 10 tabs of one browser on 10 running builds are all live; a followed 3-step build
switches steps in place (no page load), and with Follow off the reader keeps their search and
scroll and is offered the next step; the home page and the build list show a new build without
reloading; a page says when its session was logged out or its build deleted, and stops asking;
idle tabs ask the server for nothing (and the figures docs/ui.md quotes, printed)."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from runner import testing
from runner.testing import LocalRepo, github_push
from tests.fixtures.browser import chromium as launch_chromium

# One worker runs the browser-heavy modules one after another: Chromium by the dozen beside the
# other suites starves them on a small machine.
pytestmark = [
    pytest.mark.docker,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.xdist_group("chromium-heavy"),
]

SLUG = "acme/live"
PASSWORD = "admin-pass-1"
READER_PASSWORD = "reader-pass-1"
DEADLINE = 60_000  # ms, for what a loaded machine may be slow to show


def step_yaml(name: str, commands: list[str]) -> str:
    lines = "\n".join(f"  - {c}" for c in commands)
    return f"- name: {name}\n  image: runner-test/busybox\n  commands:\n{lines}\n"


def ticking(n: int, pause: str, word: str = "line") -> list[str]:
    return [f'for i in $(seq 1 {n}); do echo "{word} $i"; sleep {pause}; done']


class Live:
    """A server with an agent of many slots, a repository, and builds made by webhooks."""

    def __init__(self, root: Path, capacity: int = 12):
        self.server = testing.ServerProcess(
            root / "data",
            admin_password=PASSWORD,
            capacity=capacity,
            agent_name=f"live-{uuid.uuid4().hex[:8]}",
        )
        self.server.start()
        self.server.cli("user", "add", "reader", "--password", READER_PASSWORD)
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

    def push(self, steps: list[tuple[str, list[str]]], branch: str) -> int:
        """Commit a pipeline of these steps on ``branch``, send the webhook; the build number."""
        text = "kind: pipeline\nname: build\nsteps:\n" + "".join(
            step_yaml(name, commands) for name, commands in steps
        )
        return self.push_text(text, branch)

    def push_text(self, text: str, branch: str) -> int:
        """Commit this pipeline file on ``branch``, send the webhook; the build number."""
        sha = self.repo.commit({".drone.yml": text}, f"Build {branch}", branch=branch)
        headers, body = github_push(
            SLUG, self.repo, sha, self.secret, branch=branch, message=f"Build {branch}"
        )
        resp = self.server.post_hook(SLUG, headers, body)
        assert resp.status_code in (200, 201), resp.text
        builds = self.server.api("GET", f"/repos/{SLUG}/builds?branch={branch}", self.admin)
        return int(builds.json()[0]["number"])

    def step(self, number: int, name: str, status: str = "running", timeout: float = 120) -> dict:
        """Wait until the build's step ``name`` has ``status``; the step."""
        build = self.server.wait_build(
            SLUG,
            number,
            self.admin,
            lambda b: any(
                st["name"] == name and st["status"] == status
                for s in b["stages"]
                for st in s["steps"]
            ),
            timeout,
        )
        return next(st for s in build["stages"] for st in s["steps"] if st["name"] == name)

    def cancel(self, number: int) -> None:
        self.server.api("POST", f"/repos/{SLUG}/builds/{number}/cancel", self.admin)

    def page_url(self, number: int, step: dict | None = None) -> str:
        query = f"?step={step['id']}" if step else ""
        return f"{self.server.url}/repos/{SLUG}/{number}{query}"


@pytest.fixture(scope="module")
def live(tmp_path_factory, docker_client):
    world = Live(tmp_path_factory.mktemp("webui-live"))
    yield world
    world.server.stop()


@pytest.fixture(scope="module")
def browser():
    with launch_chromium() as b:
        yield b


def log_in(context, url: str, login: str = "admin", password: str = PASSWORD):
    page = context.new_page()
    page.goto(url + "/login")
    page.fill("#f-login", login)
    page.fill("#f-password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))
    return page


def last_line(page) -> str:
    return page.evaluate(
        "() => { const r = document.querySelectorAll('#log .ln > span');"
        " return r.length ? r[r.length - 1].textContent : ''; }"
    )


def wait_line(page, text: str, timeout: int = DEADLINE) -> None:
    page.wait_for_function(
        "(t) => Array.from(document.querySelectorAll('#log .ln > span'))"
        ".some((s) => s.textContent === t)",
        arg=text,
        timeout=timeout,
    )


def watch_navigations(page) -> dict:
    """Record the page's navigations from now on: every ``framenavigated`` of its main frame
    (history.replaceState is one too, in the same document) and every document load."""
    seen: dict = {"urls": [], "loads": 0}
    page.evaluate("window.__samePage = true")
    page.on(
        "framenavigated",
        lambda frame: seen["urls"].append(frame.url) if frame == page.main_frame else None,
    )
    page.on("load", lambda _page: seen.__setitem__("loads", seen["loads"] + 1))
    return seen


def assert_no_reload(page, seen: dict) -> None:
    """No document was loaded: what ``framenavigated`` reported were in-document URL changes."""
    assert seen["loads"] == 0, f"the page loaded again: {seen['urls']}"
    assert page.evaluate("window.__samePage") is True, "the page was replaced"


def line_number(text: str) -> int:
    return int(text.split()[-1]) if text.split() and text.split()[-1].isdigit() else -1


def test_a_followed_build_switches_steps_in_place(live, browser):
    context = browser.new_context()
    try:
        page = log_in(context, live.server.url)
        # The page must open while step one runs (it opens on the running step): one lasts
        # 20 s, however slowly this machine loads the page.
        number = live.push(
            [
                ("one", ticking(40, "0.5", "first")),
                ("two", ticking(6, "0.5", "second")),
                ("three", ticking(6, "0.5", "third")),
            ],
            branch="three-steps",
        )
        page.goto(live.page_url(number))
        navigations = watch_navigations(page)
        wait_line(page, "first 1")
        wait_line(page, "second 3")
        wait_line(page, "third 6")
        assert_no_reload(page, navigations)
        assert "follow=1" in page.url
        three = live.step(number, "three", "success")
        assert f"step={three['id']}" in page.url
        assert page.inner_text(".log-tools strong") == "three"
        assert page.get_attribute(f'[data-step-id="{three["id"]}"] a', "aria-current") == "true"
        texts = page.eval_on_selector_all("#log .ln > span", "rs => rs.map(r => r.textContent)")
        assert [t for t in texts if t.startswith("third")] == [f"third {i}" for i in range(1, 7)]
        assert not [t for t in texts if t.startswith("second")], "the old step's lines stayed"
    finally:
        context.close()


def test_with_follow_off_the_reader_keeps_search_and_scroll_and_is_offered_the_next_step(
    live, browser
):
    context = browser.new_context()
    number = None
    try:
        page = log_in(context, live.server.url)
        # Step one goes on for 30 s after its lines, so the reader has stopped following and
        # searched before step two starts, however slowly this machine loads the page.
        number = live.push(
            [
                ("one", [*ticking(60, "0.1", "first"), "sleep 30"]),
                ("two", ticking(30, "0.3", "second")),
            ],
            branch="follow-off",
        )
        page.goto(live.page_url(number))
        navigations = watch_navigations(page)
        wait_line(page, "first 20")
        page.uncheck("#follow")
        page.fill("#log-search", "first 1")
        page.wait_for_function("() => document.getElementById('log-hits').textContent !== ''")
        scroll = page.eval_on_selector("#log", "b => b.scrollTop")
        page.wait_for_selector("#next-step:not([hidden])", timeout=DEADLINE + 30_000)
        assert "two" in page.inner_text("#next-step")
        assert_no_reload(page, navigations)
        assert page.input_value("#log-search") == "first 1"
        assert page.eval_on_selector("#log", "b => b.scrollTop") == scroll
        assert page.inner_text(".log-tools strong") == "one"
        page.click("#next-step")
        wait_line(page, "second 3")
        assert_no_reload(page, navigations)
        assert page.inner_text(".log-tools strong") == "two"
    finally:
        context.close()
        if number is not None:
            live.cancel(number)


def test_ten_tabs_of_one_browser_on_ten_running_builds_are_all_live(live, browser):
    # The steps print until they are cancelled, so however slowly a loaded machine opens the
    # tabs, every one of them still has lines to receive.
    numbers = [live.push([("work", ticking(4000, "0.3"))], branch=f"tab-{i}") for i in range(10)]
    context = browser.new_context()
    try:
        log_in(context, live.server.url).close()
        steps = [live.step(n, "work") for n in numbers]
        pages = []
        for number, step in zip(numbers, steps, strict=True):
            page = context.new_page()
            page.goto(live.page_url(number, step))
            pages.append(page)
        # Lines printed from now on reach every tab.
        for index, page in enumerate(pages):
            seen = line_number(last_line(page))
            try:
                page.wait_for_function(
                    "(n) => { const r = document.querySelectorAll('#log .ln > span');"
                    " const t = r.length ? r[r.length - 1].textContent : '';"
                    " return parseInt(t.split(' ').pop(), 10) > n + 3; }",
                    arg=seen,
                    timeout=DEADLINE,
                )
            except PlaywrightTimeout:
                tabs = [(p.inner_text("#log-state"), last_line(p)) for p in pages]
                pytest.fail(f"tab {index} got no new line after {seen!r}; tabs: {tabs}")
            assert page.inner_text("#log-state") == "live"
    finally:
        context.close()
        for number in numbers:
            live.cancel(number)


def test_the_home_page_and_build_list_show_a_new_build_without_reloading(live, browser):
    context = browser.new_context()
    try:
        home = log_in(context, live.server.url)
        home_seen = watch_navigations(home)
        builds = context.new_page()
        builds.goto(f"{live.server.url}/repos/{SLUG}")
        builds_seen = watch_navigations(builds)
        number = live.push([("work", ["echo hello"])], branch="fresh-branch")
        builds.wait_for_selector(f'#build-rows tr[data-number="{number}"]', timeout=DEADLINE)
        home.wait_for_function(
            "() => document.querySelector('section.repo').textContent.includes('fresh-branch')",
            timeout=DEADLINE,
        )
        live.server.wait_build(SLUG, number, live.admin)
        builds.wait_for_selector(
            f'#build-rows tr[data-number="{number}"] [data-status="success"]', timeout=DEADLINE
        )
        assert_no_reload(home, home_seen)
        assert_no_reload(builds, builds_seen)
    finally:
        context.close()


def test_a_page_says_it_was_signed_out_elsewhere_and_stops(live, browser):
    number = live.push([("work", ticking(600, "0.2"))], branch="signed-out")
    context = browser.new_context()
    try:
        other = log_in(context, live.server.url)
        step = live.step(number, "work")
        page = context.new_page()
        page.goto(live.page_url(number, step))
        wait_line(page, "line 3")
        other.click("nav button[type=submit], form[action$='/logout'] button")
        other.wait_for_url(re.compile(r".*/login.*"))
        page.wait_for_selector("#live-note", timeout=DEADLINE)
        assert "signed out" in page.inner_text("#live-note")
        assert page.inner_text("#log-state") == "signed out"
        requests_after = []
        page.on("request", lambda r: requests_after.append(r.url))
        page.wait_for_timeout(4000)
        assert requests_after == []
    finally:
        context.close()
        live.cancel(number)


def test_a_page_says_its_build_was_deleted_and_stops(live, browser):
    from runner.store import Database, Stores

    number = live.push([("work", ["echo done"])], branch="deleted")
    live.server.wait_build(SLUG, number, live.admin)
    context = browser.new_context()
    try:
        page = log_in(context, live.server.url)
        page.goto(live.page_url(number))
        wait_line(page, "done")
        build = live.server.build(SLUG, number, live.admin)
        stores = Stores(Database(f"sqlite:///{live.server.data_dir / 'runner.db'}"))
        stores.builds.delete(build["id"])
        stores.db.dispose()
        page.wait_for_selector("#live-note", timeout=DEADLINE)
        assert "deleted" in page.inner_text("#live-note")
        requests_after = []
        page.on("request", lambda r: requests_after.append(r.url))
        page.wait_for_timeout(4000)
        assert requests_after == []
    finally:
        context.close()


def _server_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of the server process and its worker (children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


LATENCY_PROBE = (
    'python3 -u -c "import time;[print(time.time(),flush=True) or time.sleep(0.25) '
    'for i in range(60)]"'
)
ARRIVALS = """
window.__arrivals = [];
new MutationObserver((records) => {
  const now = Date.now() / 1000;
  for (const r of records) for (const n of r.addedNodes) {
    if (n.classList && n.classList.contains("ln")) {
      window.__arrivals.push([n.lastChild.textContent, now]);
    }
  }
}).observe(document, { childList: true, subtree: true });
"""


def test_idle_tabs_ask_the_server_for_nothing_and_lines_reach_the_page(
    tmp_path, docker_client, browser
):
    """Idle tabs of a running build ask the server for nothing, and lines reach the page; prints
    the figures docs/ui.md quotes (run with -s). RUNNER_TEST_SERVER_PATH runs
    the server (and so its pages) from another checkout, to measure the code before a change."""
    world = Live(tmp_path, capacity=4)
    other = os.environ.get("RUNNER_TEST_SERVER_PATH")
    if other:  # restart the same server from the other checkout's code
        world.server.stop()
        world.server.env["PYTHONPATH"] = other
        world.server.start()
    context = browser.new_context()
    try:
        log_in(context, world.server.url).close()
        number = world.push([("quiet", ["sleep 400"])], branch="idle")
        step = world.step(number, "quiet")
        pid = world.server.proc.pid
        time.sleep(5)
        before = _server_cpu_seconds(pid)
        time.sleep(60)
        baseline = _server_cpu_seconds(pid) - before
        tabs = 5  # the code before this change locks a browser at its 7th tab (6 connections)
        pages = [context.new_page() for _ in range(tabs)]
        for page in pages:
            page.goto(world.page_url(number, step))
        for page in pages:
            page.wait_for_selector("#log[data-ready='1']", timeout=DEADLINE)
        time.sleep(5)
        requests_made: list[str] = []
        for page in pages:
            page.on("request", lambda r: requests_made.append(r.url))
        before = _server_cpu_seconds(pid)
        time.sleep(60)
        with_tabs = _server_cpu_seconds(pid) - before
        pages[0].wait_for_timeout(100)  # deliver the request events of the minute
        shared = pages[0].evaluate("typeof window.RunnerLive") != "undefined"
        per_tab = max(0.0, with_tabs - baseline) / tabs
        for page in pages:
            page.close()
        world.cancel(number)
        if not other:  # an idle tab asks the server for nothing: its updates are pushed
            assert requests_made == [], requests_made[:5]
        code = (other or "this checkout") + (" (shared live connection)" if shared else "")
        print(
            f"\nserver code: {code}\nserver CPU: {baseline:.2f}s/min with no tab, "
            f"{with_tabs:.2f}s/min with {tabs} idle tabs on a running build: "
            f"{per_tab:.3f} CPU s per idle tab per minute; requests seen from the tabs in that "
            f"minute: {len(requests_made)}"
        )

        latency_build = world.push_text(
            "kind: pipeline\nname: build\nsteps:\n- name: probe\n  image: runner-test/python\n"
            f"  commands:\n  - {LATENCY_PROBE}\n",
            branch="latency",
        )
        page = context.new_page()
        page.add_init_script(ARRIVALS)
        page.goto(world.page_url(latency_build))
        world.server.wait_build(SLUG, latency_build, world.admin)
        # The page moves on to the probe's step when it sees the clone end; on a loaded machine
        # its lines may arrive after the build ended.
        page.wait_for_function(
            "() => window.__arrivals.filter(([t]) => /^\\d+\\.\\d+$/.test(t)).length >= 60",
            timeout=DEADLINE,
        )
        arrivals = page.evaluate("window.__arrivals")
        delays = sorted(
            (seen - float(text)) * 1000
            for text, seen in arrivals
            if re.fullmatch(r"\d+\.\d+", text)
        )
        assert delays, (arrivals[:5], world.server.build(SLUG, latency_build, world.admin))
        print(
            f"line latency container -> page over {len(delays)} lines: median "
            f"{delays[len(delays) // 2]:.0f} ms, 90th percentile "
            f"{delays[int(len(delays) * 0.9)]:.0f} ms"
        )
    finally:
        context.close()
        world.server.stop()
