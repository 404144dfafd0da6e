"""The build page's structure and what it says at a glance, in Chromium against a real
`runner server` with its embedded agent and Docker: two stages (one after the other) with
parallel steps are drawn in lanes in dependency order, also on a phone; a watched build's failed
step shows "exit N" and a step's reason while the page stays open (no reload), the favicon,
title and an opted-in desktop notification say when it ends, and running durations count up; a
pull request build shows its number, source branch and forge links in the page and the builds
list; the home page keeps a pull request's failure off its base branch; the builds list filters
by branch prefix and pull request number."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from test_webui_acceptance import start_world
from test_webui_browser import SHOTS
from webui_server import ADMIN_PASSWORD

from runner.testing import github_pull_request, github_push
from tests.fixtures.browser import chromium as launch_chromium
from tests.fixtures.browser import log_in

# One worker runs the browser-heavy modules one after another: Chromium by the dozen beside the
# other suites starves them on a small machine.
pytestmark = [
    pytest.mark.docker,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.xdist_group("chromium-heavy"),
]

SLUG = "acme/app"
# Port 1 of loopback refuses at once: the pull fails without reaching any outside registry.
GHOST = "127.0.0.1:1/ghost/image:1.0"
# Two stages, the second after the first; in the first, "unit" and "lint" run side by side
# after "compile", and "unit" fails with exit 3 (ignored, so "deploy" runs); "deploy" cannot
# pull its image: a step with a reason.
PIPELINE = f"""\
kind: pipeline
name: build
steps:
- name: compile
  image: runner-test/busybox
  commands:
  - echo compiling
  - sleep {{pause}}
- name: unit
  image: runner-test/busybox
  depends_on: [compile]
  failure: ignore
  commands:
  - echo testing
  - exit 3
- name: lint
  image: runner-test/busybox
  depends_on: [compile]
  commands:
  - echo linting
---
kind: pipeline
name: deploy
depends_on: [build]
steps:
- name: ship
  image: {GHOST}
  commands:
  - echo never
"""
QUICK = """\
kind: pipeline
name: default
steps:
- name: work
  image: runner-test/busybox
  commands:
  - {command}
"""
DONE = ("success", "failure", "error", "killed", "declined")


@pytest.fixture(scope="module")
def world(tmp_path_factory, docker_client):
    w = start_world(tmp_path_factory)
    yield w
    w.server.stop()


@pytest.fixture(scope="module")
def chromium():
    with launch_chromium() as b:
        yield b


@pytest.fixture
def page_of(chromium, world):
    """``page_of(width=1280, **context options)``: a page logged in as admin."""
    contexts = []

    def make(width: int = 1280, height: int = 900, **options):
        context = chromium.new_context(viewport={"width": width, "height": height}, **options)
        contexts.append(context)
        page = context.new_page()
        log_in(page, world.server.url, "admin", ADMIN_PASSWORD)
        return page

    yield make
    for context in contexts:
        context.close()


def push(world, text: str, *, branch: str, message: str = "change", changed=None) -> int:
    """Commit ``text`` as the pipeline on ``branch``, send GitHub's push webhook (its commit
    listing the paths ``changed``); the build's number."""
    sha = world.repo.commit({".drone.yml": text}, message, branch=branch)
    headers, body = github_push(
        SLUG, world.repo, sha, world.secret, branch=branch, message=message, changed=changed
    )
    resp = world.server.http.post(f"{world.server.url}/hook/{SLUG}", data=body, headers=headers)
    assert resp.status_code in (200, 201), resp.text
    return _newest(world, f"branch={urllib.parse.quote(branch)}")


def pull_request(world, text: str, *, number: int, source: str, avatar: str = "") -> int:
    """Commit ``text`` on ``source``, make it pull request ``number`` into main, send GitHub's
    pull_request webhook; the build's number."""
    sha = world.repo.commit({".drone.yml": text}, f"PR {number}", branch=source)
    world.repo.push_pull_request(number, sha)
    headers, body = github_pull_request(
        SLUG,
        world.repo,
        sha,
        world.secret,
        number=number,
        source_branch=source,
        title=f"Pull request {number}",
        avatar_url=avatar,
    )
    resp = world.server.http.post(f"{world.server.url}/hook/{SLUG}", data=body, headers=headers)
    assert resp.status_code in (200, 201), resp.text
    return _newest(world, f"pull_request={number}")


def _newest(world, query: str) -> int:
    builds = world.server.api("GET", f"/repos/{SLUG}/builds?{query}", world.admin)
    assert builds.status_code == 200, builds.text
    return builds.json()[0]["number"]


def ended(world, number: int) -> dict:
    return world.server.wait(SLUG, number, world.admin, lambda b: b["status"] in DONE, 180)


def lanes_of(page) -> list[list[str]]:
    """The stage names of each lane, as drawn."""
    return page.eval_on_selector_all(
        "#stages > li.lane",
        "lanes => lanes.map(l => [...l.querySelectorAll('.stage .stage-head strong')]"
        ".map(e => e.textContent))",
    )


def groups_of(page, stage: str) -> list[list[str]]:
    """The step names of each group of ``stage``, in the order drawn."""
    return page.evaluate(
        """name => {
          const stage = [...document.querySelectorAll('.stage')]
            .find(s => s.querySelector('.stage-head strong').textContent === name);
          return [...stage.querySelectorAll('.groups > li')].map(g =>
            [...g.querySelectorAll('.step .step-name')].map(e => e.textContent));
        }""",
        stage,
    )


def test_stages_and_parallel_steps_are_drawn_in_lanes_in_dependency_order(world, page_of):
    changed = [".drone.yml", "src/<b>app</b>.py"]
    number = push(world, PIPELINE.format(pause=0), branch="lanes", message="Lanes", changed=changed)
    ended(world, number)
    page = page_of()
    page.goto(f"{world.server.url}/repos/{SLUG}/{number}")
    # The push's changed files: a tab to them, each path as text.
    page.click(".build-tabs a:text-is('Changed files (2)')")
    assert page.eval_on_selector_all("#changed-files li", "ls => ls.map(l => l.textContent)") == (
        changed
    )
    assert page.get_attribute("#compiled-config", "href").endswith(f"/{number}/config")
    assert lanes_of(page) == [["build"], ["deploy"]]
    assert groups_of(page, "build") == [["clone"], ["compile"], ["unit", "lint"]]
    assert page.inner_text(".stage .group.parallel .group-title") == "2 in parallel"
    # A list screen readers follow: lanes, stages, groups and steps are list items in order.
    roles = page.eval_on_selector_all("#stages li.step", "els => els.map(e => e.tagName)")
    assert roles and set(roles) == {"LI"}
    # Drawn left to right on a desktop: the second lane starts right of the first.
    boxes = page.eval_on_selector_all(
        "#stages > li.lane", "ls => ls.map(l => l.getBoundingClientRect().left)"
    )
    assert boxes[1] > boxes[0]
    page.screenshot(path=str(SHOTS / "build-lanes.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SHOTS / "build-lanes-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    # The keyboard reaches every step's link in dependency order.
    links = page.eval_on_selector_all(
        "#stages .step > a", "as => as.map(a => a.querySelector('.step-name').textContent)"
    )
    assert links == ["clone", "compile", "unit", "lint", "clone", "ship"]
    page.focus("#stages .step > a")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip().startswith("compile")

    phone = page_of(width=390, height=844, is_mobile=True)
    phone.goto(f"{world.server.url}/repos/{SLUG}/{number}")
    assert lanes_of(phone) == [["build"], ["deploy"]]
    tops = phone.eval_on_selector_all(
        "#stages > li.lane", "ls => ls.map(l => l.getBoundingClientRect().top)"
    )
    assert tops[1] > tops[0]  # stacked, the first lane on top
    wide = phone.evaluate("document.documentElement.scrollWidth")
    assert wide <= 390, f"the page scrolls sideways on a phone: {wide} px"
    phone.screenshot(path=str(SHOTS / "build-lanes-phone.png"), full_page=True)


def test_a_watched_build_shows_exit_codes_reasons_and_its_end_without_a_reload(world, page_of):
    # Both pages are signed in before the push, and "compile" lasts 30 s: the page must watch
    # the build before "unit" fails, and the list must see it running, on any machine.
    page = page_of(permissions=["notifications"])
    rows = page_of()
    number = push(world, PIPELINE.format(pause=30), branch="watched", message="Watched")
    page.add_init_script(
        """(() => {
          // Records the notifications the page makes, then makes them as the browser would.
          const Real = window.Notification;
          window.__notified = [];
          window.Notification = class extends Real {
            constructor(title, options) { window.__notified.push(title); super(title, options); }
          };
        })();"""
    )
    # A chosen step: the page stays on it (following from step to step is the live view's).
    build = world.server.build(SLUG, number, world.admin)
    compile_id = next(
        st["id"] for s in build["stages"] for st in s["steps"] if st["name"] == "compile"
    )
    page.goto(f"{world.server.url}/repos/{SLUG}/{number}?step={compile_id}")
    page.evaluate("window.__samePage = true")
    unit = "[data-step-id]:has(.step-name:text-is('unit'))"
    assert page.get_attribute(unit, "data-status") != "failure", "watch before the step fails"
    assert page.is_hidden(f"{unit} .exit")
    first_icon = page.get_attribute("#favicon", "href")
    assert page.title().endswith(f"#{number} {SLUG}") and page.title()[0] in "○●"

    page.click("#notify-toggle")
    page.wait_for_selector("#notify-toggle[aria-pressed='true']")

    # While "compile" sleeps, the build's duration in the builds list counts up every second
    # (its row is not fetched again while the build's status stays the same).
    rows.goto(f"{world.server.url}/repos/{SLUG}")
    row_dur = f"tr[data-number='{number}'] td.dur"
    rows.wait_for_function(
        "sel => /^[1-9][0-9]*s$/.test(document.querySelector(sel).textContent)",
        arg=row_dur,
        timeout=90000,
    )
    first = rows.inner_text(row_dur)
    rows.wait_for_function(
        "([sel, was]) => /s$/.test(document.querySelector(sel).textContent)"
        " && document.querySelector(sel).textContent !== was",
        arg=[row_dur, first],
        timeout=30000,
    )

    page.wait_for_selector(f"{unit} .exit:visible", timeout=120000)
    assert page.inner_text(f"{unit} .exit") == "exit 3"
    assert page.get_attribute(unit, "data-status") == "failure"
    ship = "[data-step-id]:has(.step-name:text-is('ship'))"
    page.wait_for_selector(f"{ship} .reason:visible", timeout=120000)
    reason = page.inner_text(f"{ship} .reason")
    assert "cannot be pulled" in reason and GHOST in reason

    build = ended(world, number)
    page.wait_for_function(
        "s => document.getElementById('favicon').dataset.status === s",
        arg=build["status"],
        timeout=60000,
    )
    assert page.title() == f"✗ #{number} {SLUG}"
    icon = page.get_attribute("#favicon", "href")
    assert icon != first_icon and icon.startswith("data:image/svg+xml,")
    assert build["status"] in urllib.parse.unquote(icon)
    page.wait_for_function("() => window.__notified.length === 1", timeout=30000)
    assert page.evaluate("window.__notified")[0].startswith(f"✗ #{number} {SLUG}")
    assert page.evaluate("window.__samePage") is True  # the page was never reloaded
    page.screenshot(path=str(SHOTS / "build-failed-step.png"))


def test_a_pull_request_build_shows_its_number_source_branch_and_links(world, page_of):
    avatar = f"{world.server.url}/badge/{SLUG}/status.svg"
    number = pull_request(
        world, QUICK.format(command="echo reviewed"), number=42, source="feature/x", avatar=avatar
    )
    page = page_of()
    page.goto(f"{world.server.url}/repos/{SLUG}/{number}")
    assert page.inner_text("#build-pr a") == "PR #42"
    assert page.get_attribute("#build-pr a", "href") == f"https://github.com/{SLUG}/pull/42"
    assert "feature/x → main" in page.inner_text("#build-pr")
    img = page.locator("#build-head img.avatar")
    assert img.get_attribute("src") == avatar
    assert img.get_attribute("alt") == "avatar of dev"
    assert img.get_attribute("referrerpolicy") == "no-referrer"
    img.evaluate("i => i.decode()")  # the forge's image loads under the page's policy
    assert img.bounding_box()["width"] <= 20

    page.goto(f"{world.server.url}/repos/{SLUG}?pull_request=42")
    row = page.locator(f"tr[data-number='{number}']")
    assert row.locator(".pr a").inner_text() == "PR #42"
    assert "feature/x → main" in row.inner_text()
    assert row.locator("img.avatar").get_attribute("src") == avatar


def test_the_home_page_keeps_a_pull_requests_failure_off_its_base_branch(world, page_of):
    main = push(world, QUICK.format(command="echo fine"), branch="main", message="Main")
    pr = pull_request(world, QUICK.format(command="exit 1"), number=7, source="broken")
    assert ended(world, main)["status"] == "success"
    assert ended(world, pr)["status"] == "failure"
    page = page_of()
    page.goto(world.server.url + "/")
    card = page.locator(f"[data-repo='{SLUG}']")
    branches = card.locator(".branches:not(.pulls) a")
    by_name = {
        branches.nth(i).locator(".mono").inner_text(): branches.nth(i)
        for i in range(branches.count())
    }
    assert by_name["main"].locator("[data-status]").get_attribute("data-status") == "success"
    assert "PR #7" not in card.locator(".branches:not(.pulls)").inner_text()
    pull = card.locator(".pulls a", has_text="PR #7 broken")
    assert pull.locator("[data-status]").get_attribute("data-status") == "failure"
    page.screenshot(path=str(SHOTS / "repositories-pull-requests.png"))


def test_the_builds_list_filters_by_branch_prefix_and_pull_request(world, page_of):
    one = push(world, QUICK.format(command="echo one"), branch="release/1.0")
    two = push(world, QUICK.format(command="echo two"), branch="release/2.0")
    other = push(world, QUICK.format(command="echo other"), branch="releases")
    pr = pull_request(world, QUICK.format(command="echo pr"), number=9, source="topic")
    page = page_of()
    page.goto(f"{world.server.url}/repos/{SLUG}")
    page.fill("input[name=branch]", "release/*")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r".*branch=release%2F\*.*"))

    def shown() -> list[int]:
        return [
            int(n)
            for n in page.eval_on_selector_all(
                "#build-rows tr[data-number]", "rs => rs.map(r => r.dataset.number)"
            )
        ]

    assert shown() == [two, one] and other not in shown()
    page.fill("input[name=branch]", "")
    page.fill("input[name=pull_request]", "9")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r".*pull_request=9.*"))
    assert shown() == [pr]


def test_relative_times_refresh_every_half_minute(world, page_of):
    number = push(world, QUICK.format(command="echo hi"), branch="times")
    ended(world, number)
    page = page_of()
    page.clock.install()
    page.goto(f"{world.server.url}/repos/{SLUG}")
    when = f"tr[data-number='{number}'] time"
    assert page.inner_text(when) in ("just now", "1 min ago")
    page.clock.fast_forward("03:00")
    page.wait_for_function(
        "sel => /^[34] min ago$/.test(document.querySelector(sel).textContent)", arg=when
    )
