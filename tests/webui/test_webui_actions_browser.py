"""The page actions in Chromium against a real `runner server` with its agent and Docker: a
build started from the New build form gets its parameters in its steps' environment; "Re-run
failed stages" (and `runner build restart --failed`) runs the failed stage again in a new
build that keeps the successful stage's result without running it; dismissing the question of
a cancel or a delete leaves everything as it was and accepting it acts; a cron job runs now
from its settings page; a user makes and revokes their own API token."""

from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
from test_webui_browser import SHOTS
from webui_server import ADMIN_PASSWORD, ServerProcess

from runner.testing import LocalRepo
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

SLUG = "acme/actions"
DONE = ("success", "failure", "killed", "error", "declined", "skipped")


def one_stage(commands: list[str]) -> str:
    lines = "\n".join(f"  - {c}" for c in commands)
    return (
        "kind: pipeline\nname: build\nsteps:\n- name: work\n  image: runner-test/busybox\n"
        f"  commands:\n{lines}\n"
    )


def two_stages(marker: str) -> str:
    """Stage ``one`` succeeds; stage ``two`` (after it) fails the first time it runs on the
    agent and succeeds after, by a marker file in its cache volume (kept across builds)."""
    return (
        "kind: pipeline\nname: one\nsteps:\n- name: first\n  image: runner-test/busybox\n"
        "  commands:\n  - echo stage one ran\n"
        "---\n"
        "kind: pipeline\nname: two\ndepends_on: [one]\nsteps:\n- name: flaky\n"
        f"  image: runner-test/busybox\n  cache: [{marker}]\n  commands:\n"
        f"  - if [ -f {marker}/seen ]; then echo second try; exit 0; fi\n"
        f"  - echo seen > {marker}/seen\n"
        "  - echo first try fails\n"
        "  - exit 1\n"
    )


class World:
    """A server with its embedded agent, one repository and an admin's API token."""

    def __init__(self, server: ServerProcess, repo: LocalRepo):
        self.server = server
        self.repo = repo
        self.admin = server.token("admin")

    def build(self, pipeline: str, **body: object) -> int:
        """Commit ``pipeline`` on main and start a custom build of it through the API."""
        self.repo.commit({".drone.yml": pipeline}, "change")
        resp = self.server.api("POST", f"/repos/{SLUG}/builds", self.admin, json=body)
        assert resp.status_code == 201, resp.text
        return int(resp.json()["number"])

    def ended(self, number: int, timeout: float = 180) -> dict:
        """Poll build ``number`` until it is over; the build then. A connection the loaded
        server drops between two polls (keep-alive) is polled again, within the deadline."""
        deadline = time.monotonic() + timeout
        build: dict = {}
        while time.monotonic() < deadline:
            try:
                resp = self.server.api("GET", f"/repos/{SLUG}/builds/{number}", self.admin)
            except requests.ConnectionError:
                resp = None
            if resp is not None and resp.status_code == 200:
                build = resp.json()
                if build["status"] in DONE:
                    return build
            time.sleep(0.2)
        raise AssertionError(f"build {number} never ended: {build}\n{self.server.log()}")

    def log(self, build: dict, step_name: str) -> str:
        for stage in build["stages"]:
            for step in stage["steps"]:
                if step["name"] == step_name:
                    where = f"{build['number']}/logs/{stage['number']}/{step['number']}"
                    resp = self.server.api("GET", f"/repos/{SLUG}/builds/{where}", self.admin)
                    assert resp.status_code == 200, resp.text
                    return resp.text
        raise AssertionError(f"no step {step_name} in {build}")

    def events(self, kind: str) -> list[dict]:
        resp = self.server.api("GET", f"/repos/{SLUG}/events?kind={kind}", self.admin)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory, docker_client):
    root = tmp_path_factory.mktemp("webui-actions")
    server = ServerProcess(root / "data").start()
    repo = LocalRepo(root)
    repo.commit({".drone.yml": one_stage(["true"])}, "first")
    w = World(server, repo)
    resp = server.api(
        "POST",
        "/repos",
        w.admin,
        json={"slug": SLUG, "forge": "github", "clone_url": repo.clone_url},
    )
    assert resp.status_code == 201, resp.text
    yield w
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with launch_chromium() as b:
        yield b


@pytest.fixture
def page(browser, world):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    log_in(page, world.server.url, "admin", ADMIN_PASSWORD)
    yield page
    context.close()


def _number_in(url: str) -> int:
    match = re.search(rf"/repos/{SLUG}/(\d+)", url)
    assert match, url
    return int(match.group(1))


def test_a_build_from_the_new_build_form_gets_its_parameters_in_the_steps_environment(world, page):
    world.repo.commit(
        {".drone.yml": one_stage(['echo "greeting=$GREETING"', 'echo "count=$COUNT"'])}, "params"
    )
    page.goto(f"{world.server.url}/repos/{SLUG}")
    page.click("#new-build-link")
    page.fill("#f-params", "GREETING=hello from the form\nCOUNT=3")
    page.screenshot(path=str(SHOTS / "new-build.png"))
    page.click("#btn-start-build")
    page.wait_for_url(re.compile(rf".*/repos/{SLUG}/\d+$"))
    build = world.ended(_number_in(page.url))
    assert build["status"] == "success", world.server.explain_build(SLUG, build, world.admin)
    assert build["event"] == "custom" and build["sender"] == "admin"
    log = world.log(build, "work")
    assert "greeting=hello from the form" in log and "count=3" in log


def test_a_tag_built_from_the_form_is_the_tags_commit(world, page):
    sha = world.repo.commit(
        {".drone.yml": one_stage(['echo "tag=$DRONE_TAG"'])}, "tagged", tag="v1.0"
    )
    world.repo.commit({".drone.yml": one_stage(["echo later"])}, "after the tag")
    page.goto(f"{world.server.url}/repos/{SLUG}/new")
    page.fill("#f-branch", "")
    page.fill("#f-tag", "v1.0")
    page.click("#btn-start-build")
    page.wait_for_url(re.compile(rf".*/repos/{SLUG}/\d+$"))
    build = world.ended(_number_in(page.url))
    assert build["status"] == "success", world.server.explain_build(SLUG, build, world.admin)
    assert build["tag"] == "v1.0" and build["commit"] == sha
    assert "tag=v1.0" in world.log(build, "work")


def test_a_branch_that_does_not_exist_is_said_next_to_the_branch(world, page):
    page.goto(f"{world.server.url}/repos/{SLUG}/new")
    page.fill("#f-branch", "no-such-branch")
    page.click("#btn-start-build")
    error = page.locator("#e-branch")
    error.wait_for()
    assert "no-such-branch" in error.inner_text()


def test_rerun_failed_stages_runs_only_the_failed_stage_again(world, page):
    marker = f"/mk-{uuid.uuid4().hex[:8]}"
    first = world.ended(world.build(two_stages(marker)))
    stages = {s["name"]: s for s in first["stages"]}
    assert first["status"] == "failure", world.server.explain_build(SLUG, first, world.admin)
    assert stages["one"]["status"] == "success" and stages["two"]["status"] == "failure"

    page.goto(f"{world.server.url}/repos/{SLUG}/{first['number']}")
    page.locator("#btn-rerun-failed").wait_for()
    page.screenshot(path=str(SHOTS / "build-rerun-failed.png"))
    page.click("#btn-rerun-failed")
    page.wait_for_url(re.compile(rf".*/repos/{SLUG}/(?!{first['number']}$)\d+$"))
    again = world.ended(_number_in(page.url))
    assert again["status"] == "success", world.server.explain_build(SLUG, again, world.admin)
    assert again["parent"] == first["number"] and again["commit"] == first["commit"]

    kept = {s["name"]: s for s in again["stages"]}["one"]
    (old_step,) = [st for st in stages["one"]["steps"] if st["name"] == "first"]
    (new_step,) = [st for st in kept["steps"] if st["name"] == "first"]
    # Carried over, not run again: the same times as in the first build, and no new log.
    assert kept["status"] == "success"
    assert (new_step["started"], new_step["finished"]) == (
        old_step["started"],
        old_step["finished"],
    )
    assert "stage one ran" not in world.log(again, "first")
    assert "second try" in world.log(again, "flaky")

    (entry,) = [e for e in world.events("build.rerun") if f"#{again['number']}" in e["subject"]]
    assert entry["actor"] == "admin"
    assert f"re-runs the failed stages of #{first['number']}: two" in entry["message"]


def test_the_cli_reruns_the_failed_stages(world):
    marker = f"/mk-{uuid.uuid4().hex[:8]}"
    first = world.ended(world.build(two_stages(marker)))
    assert first["status"] == "failure"
    out = world.server.cli("build", "restart", SLUG, str(first["number"]), "--failed")
    number = int(re.match(r"#(\d+)", out.strip()).group(1))
    again = world.ended(number)
    assert again["status"] == "success", world.server.explain_build(SLUG, again, world.admin)
    kept = {s["name"]: s for s in again["stages"]}["one"]
    old = {s["name"]: s for s in first["stages"]}["one"]
    assert kept["started"] == old["started"] and kept["status"] == "success"


def test_a_dismissed_cancel_leaves_the_build_running_and_an_accepted_one_cancels(world, page):
    number = world.build(one_stage(["echo started", "sleep 120"]))
    world.server.wait(
        SLUG,
        number,
        world.admin,
        lambda b: any(st["status"] == "running" for s in b["stages"] for st in s["steps"]),
        120,
        "ran a step",
    )
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(f"{world.server.url}/repos/{SLUG}/{number}")
    questions: list[str] = []

    def dismiss(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("#btn-cancel")
    page.evaluate("1")  # a round trip to the page after the dialog
    assert questions and f"Cancel build #{number}" in questions[0]
    assert not [u for u in posts if u.endswith("/cancel")]
    assert world.server.build(SLUG, number, world.admin)["status"] == "running"
    assert not [e for e in world.events("build.cancelled") if f"#{number}" in e["subject"]]

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#btn-cancel")
    build = world.ended(number)
    assert build["status"] == "killed"
    (entry,) = [e for e in world.events("build.cancelled") if f"#{number}" in e["subject"]]
    assert entry["actor"] == "admin"


def test_a_dismissed_delete_keeps_the_secret_and_an_accepted_one_deletes_it(world, page):
    resp = world.server.api(
        "POST", f"/repos/{SLUG}/secrets", world.admin, json={"name": "GONE_SOON", "value": "v"}
    )
    assert resp.status_code == 201, resp.text
    page.goto(f"{world.server.url}/repos/{SLUG}/settings/secrets")
    delete = page.locator('button[aria-label="Delete secret GONE_SOON"]')
    page.once("dialog", lambda dialog: dialog.dismiss())
    delete.click()
    page.evaluate("1")
    page.reload()
    assert page.locator('button[aria-label="Delete secret GONE_SOON"]').count() == 1
    listed = world.server.api("GET", f"/repos/{SLUG}/secrets", world.admin).json()
    assert [s["name"] for s in listed] == ["GONE_SOON"]

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('button[aria-label="Delete secret GONE_SOON"]').click()
    page.locator(".flash", has_text="Secret GONE_SOON deleted").wait_for()
    assert world.server.api("GET", f"/repos/{SLUG}/secrets", world.admin).json() == []


def test_a_cron_job_runs_now_from_its_settings_page(world, page):
    world.repo.commit({".drone.yml": one_stage(["echo cron ran"])}, "cron")
    resp = world.server.api(
        "POST", f"/repos/{SLUG}/crons", world.admin, json={"name": "nightly", "schedule": "@daily"}
    )
    assert resp.status_code == 201, resp.text
    page.goto(f"{world.server.url}/repos/{SLUG}/settings/cron")
    page.screenshot(path=str(SHOTS / "settings-cron-job.png"))
    page.click('button[aria-label="Run cron job nightly now"]')
    page.wait_for_url(re.compile(rf".*/repos/{SLUG}/\d+$"))
    build = world.ended(_number_in(page.url))
    assert build["event"] == "cron" and build["status"] == "success"
    assert "cron ran" in world.log(build, "work")

    # A page of its own: the build page may still move itself on to the ended step.
    settings = page.context.new_page()
    settings.set_default_timeout(60_000)
    settings.goto(f"{world.server.url}/repos/{SLUG}/settings/cron")
    settings.click('button[aria-label="Disable cron job nightly"]')
    settings.locator('button[aria-label="Enable cron job nightly"]').wait_for()
    (job,) = world.server.api("GET", f"/repos/{SLUG}/crons", world.admin).json()
    assert job["enabled"] is False


def test_a_user_makes_and_revokes_their_own_token(world, page):
    page.goto(world.server.url + "/")
    page.click("#nav-tokens")
    page.fill("#f-name", "laptop")
    page.click("#btn-create-token")
    plain = page.locator("#new-token").input_value()
    page.goto(world.server.url + "/account/tokens")
    page.screenshot(path=str(SHOTS / "account-tokens.png"))
    assert world.server.api("GET", "/user", plain).status_code == 200

    page.goto(world.server.url + "/account/tokens")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click('button[aria-label="Revoke token laptop"]')
    page.locator(".flash", has_text="Token revoked").wait_for()
    assert world.server.api("GET", "/user", plain).status_code == 401
