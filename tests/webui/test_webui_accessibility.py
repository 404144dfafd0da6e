"""axe-core in Chromium on every page of the web UI, served by a real `runner server` with its
agent and Docker and seeded through the API and webhooks (finished builds with logs, a failed
step, a deployment waiting for approval, an environment, secrets, a registry, a cron job,
roles, events): no violation of impact serious or critical, in light and dark, on a desktop
(1280×800) and a phone (390×844), and no page scrolls sideways on the phone.

The pages are the webui blueprint's GET routes: each one whose parameters ``known()`` gives
is visited as an admin by itself, so a new page is checked without touching this file; a route
with other parameters must be listed in ``PAGES``, one that answers no HTML in ``NOT_PAGES``,
or the test fails and names it. ``extra_pages()`` adds what routes alone do not reach: pages for
other users, error pages, and pages shown after a form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from test_webui_browser import SHOTS
from webui_server import ADMIN_PASSWORD, ServerProcess

from runner.testing import LocalRepo, app_settings, github_push
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
READER_PASSWORD = "reader-pass-1"
BLOCKING = ("serious", "critical")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

# GET routes of the blueprint that answer no HTML page, and what they answer instead.
NOT_PAGES = {
    "webui.static": "the pages' CSS, scripts and icons",
    "webui.builds_json": "JSON rows for the builds list's refresh",
    "webui.build_state": "JSON state of a build for the build page",
    "webui.log_tail": "JSON lines of a step's log",
    "webui.log_raw": "a step's log as plain text",
    "webui.badge": "an SVG status badge",
}

# Pages docs/ui.md shows: (visit label, scheme, viewport) -> screenshot name.
SCREENSHOTS = {
    ("404 for an unknown address, logged in", "light", "desktop"): "error-404",
    ("webui.deployments", "light", "phone"): "phone-deployments",
    ("webui.settings_secrets", "dark", "phone"): "phone-secrets-dark",
}


def _edit_pages(kind: str) -> Callable[[Site], list[str]]:
    """The edit pages of the seeded rows of one settings list (``secrets``, ``cron``...)."""

    def pages(site: Site) -> list[str]:
        return [f"/repos/{SLUG}/settings/{kind}/{i}/edit" for i in site.settings_ids[kind]]

    return pages


# GET routes with parameters beyond ``KNOWN``: endpoint -> its addresses, from the seeded site.
PAGES: dict[str, Callable[[Site], list[str]]] = {
    "webui.settings_secret_edit": _edit_pages("secrets"),
    "webui.settings_env_edit": _edit_pages("environments"),
    "webui.settings_cron_edit": _edit_pages("cron"),
}


@dataclass
class Site:
    """The seeded server: its address and the numbers of the builds the pages show."""

    server: ServerProcess
    done: int  # a successful build with a log
    failed: int  # a build whose step failed with exit 3
    blocked: int  # a promote to production waiting for approval
    step_ids: dict[int, list[int]] = field(default_factory=dict)  # build number -> step ids
    # The ids of the seeded secrets, environments and cron jobs, by their settings page.
    settings_ids: dict[str, list[int]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


def known(site: Site) -> dict[str, Any]:
    """Values for the route parameters every test site has."""
    owner, name = SLUG.split("/")
    return {"owner": owner, "name": name, "number": site.done}


@dataclass
class Visit:
    """One page to check: who opens it, how, and what shows once it is ready."""

    label: str
    user: str  # "admin", "reader" or "" (not logged in)
    path: str = ""
    ready: str = "main"  # a selector present once the page's scripts have drawn it
    reach: Callable[[Any, Site], None] | None = None  # for pages shown after a form


def _new_token_page(page: Any, site: Site) -> None:
    page.goto(site.url + "/admin/users")
    form = page.locator("form[action$='/tokens']").first
    form.locator("input[name=name]").fill("axe-check")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def _new_agent_page(page: Any, site: Site) -> None:
    page.goto(site.url + "/admin/agents")
    page.fill("#f-name", f"axe-agent-{page.viewport_size['width']}")
    page.click("form[action$='/admin/agents'] button[type=submit]")
    page.wait_for_load_state()


def extra_pages(site: Site) -> list[Visit]:
    """Pages the routes alone do not reach with the right user or state."""
    repo = f"/repos/{SLUG}"
    return [
        Visit("login form", "", "/login"),
        Visit("404 for an unknown address", "", "/no/such/page"),
        Visit("404 for an unknown address, logged in", "admin", "/no/such/page"),
        Visit("404 for a missing build", "admin", f"{repo}/99999"),
        Visit("403 for a reader on the settings", "reader", f"{repo}/settings"),
        Visit("builds list as a reader", "reader", repo),
        Visit("build page as a reader", "reader", f"{repo}/{site.done}", "#log .ln"),
        Visit("failed build", "admin", f"{repo}/{site.failed}", "#log .ln"),
        Visit("build waiting for approval", "admin", f"{repo}/{site.blocked}"),
        Visit("deployments of production", "admin", f"{repo}/deployments?environment=production"),
        Visit("new API token shown once", "admin", reach=_new_token_page),
        Visit("new agent's token shown once", "admin", reach=_new_agent_page),
    ]


def page_routes(tmp_path) -> dict[str, Any]:
    """The GET routes of the webui blueprint: endpoint -> werkzeug rule."""
    from runner.server.app import create_app

    app = create_app(app_settings(tmp_path, embedded_agent=False), start_background=False)
    return {
        rule.endpoint: rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("webui.") and "GET" in (rule.methods or ())
    }


def route_visits(routes: dict[str, Any], site: Site) -> tuple[list[Visit], list[str]]:
    """A visit per page route, and the routes this file does not know how to open."""
    values = known(site)
    visits, unknown = [], []
    for endpoint, rule in sorted(routes.items()):
        if endpoint in NOT_PAGES:
            continue
        if endpoint in PAGES:
            visits += [Visit(endpoint, "admin", path) for path in PAGES[endpoint](site)]
        elif set(rule.arguments) <= set(values):
            path = rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]
            ready = "#log .ln" if endpoint == "webui.build" else "main"
            visits.append(Visit(endpoint, "admin", path, ready))
        else:
            unknown.append(f"{endpoint} ({rule.rule})")
    return visits, unknown


# --- the seeded server ---------------------------------------------------------------------

PIPELINE = """\
kind: pipeline
name: build
steps:
- name: work
  image: runner-test/busybox
  commands:
  - echo "building <b>app</b>"
  - printf '\\033[32mok\\033[0m \\033[1;31mred\\033[0m \\033[2mdim\\033[0m \\033[36mcyan\\033[0m\\n'
  - {last}
- name: ship
  image: runner-test/busybox
  commands:
  - echo shipping
  when:
    target: production
"""


def push(server: ServerProcess, repo: LocalRepo, secret: str, token: str, *, last: str) -> int:
    """Commit the pipeline on main, send the webhook and wait for the build's end."""
    sha = repo.commit({".drone.yml": PIPELINE.format(last=last)}, f"Pipeline ending in {last}")
    headers, body = github_push(SLUG, repo, sha, secret, message=f"Pipeline ending in {last}")
    resp = server.http.post(f"{server.url}/hook/{SLUG}", data=body, headers=headers)
    assert resp.status_code in (200, 201), resp.text
    number = server.api("GET", f"/repos/{SLUG}/builds", token).json()[0]["number"]
    server.wait_build(SLUG, number, token, lambda b: b["status"] in ("success", "failure"))
    return number


def ok(resp: Any) -> Any:
    assert resp.status_code in (200, 201, 204), resp.text
    return resp


@pytest.fixture(scope="module")
def site(tmp_path_factory, docker_client):
    root = tmp_path_factory.mktemp("webui-axe")
    server = ServerProcess(root / "data").start()
    try:
        server.cli("user", "add", "reader", "--password", READER_PASSWORD)
        admin = server.token("admin")
        repo = LocalRepo(root)
        created = ok(
            server.api(
                "POST",
                "/repos",
                admin,
                json={"slug": SLUG, "forge": "github", "clone_url": repo.clone_url},
            )
        )
        secret = created.json()["webhook_secret"]
        api = f"/repos/{SLUG}"
        ok(server.api("PUT", f"{api}/perms/reader", admin, json={"role": "read"}))
        ok(
            server.api(
                "POST",
                f"{api}/environments",
                admin,
                json={"name": "production", "tags": ["v*"], "approval": True, "lock": True},
            )
        )
        for body in (
            {"name": "deploy_key", "value": "s3cr3t", "environment": "production"},
            {"name": "npm_token", "value": "t0ken", "events": ["push", "tag"]},
        ):
            ok(server.api("POST", f"{api}/secrets", admin, json=body))
        registry = {"hostname": "registry.local:5000", "username": "ci", "password": "pw"}
        ok(server.api("POST", f"{api}/registries", admin, json=registry))
        cron = {"name": "nightly", "schedule": "@daily", "branch": "main"}
        ok(server.api("POST", f"{api}/crons", admin, json=cron))
        done = push(server, repo, secret, admin, last="seq 1 30")
        failed = push(server, repo, secret, admin, last="exit 3")
        promoted = ok(
            server.api("POST", f"{api}/builds/{done}/promote", admin, json={"target": "production"})
        )
        blocked = promoted.json()["number"]
        server.wait_build(SLUG, blocked, admin, lambda b: b["status"] == "blocked")
        listings = {"secrets": "secrets", "environments": "environments", "cron": "crons"}
        ids = {
            kind: [row["id"] for row in ok(server.api("GET", f"{api}/{listing}", admin)).json()]
            for kind, listing in listings.items()
        }
        yield Site(server, done=done, failed=failed, blocked=blocked, settings_ids=ids)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium():
    with launch_chromium() as browser:
        yield browser


# --- the checks ----------------------------------------------------------------------------

AXE = Axe()

# The elements wider than the viewport, for a failure message.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0) {
      wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
        (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "")
        + " right=" + Math.round(box.right));
    }
  }
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}"""


def problems_of(page: Any, visit: Visit, viewport: str) -> list[str]:
    """The serious or critical axe violations of the open page, and sideways scrolling on a
    phone, as lines of a failure message."""
    found = []
    results = AXE.run(page, options={"resultTypes": ["violations"]})
    for violation in results.response["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"][:4]]
        summary = violation["nodes"][0].get("failureSummary", "").replace("\n", " ")
        found.append(
            f"{visit.label} [{page.url}]: {violation['id']} ({violation['impact']}) "
            f"on {targets}: {summary[:300]}"
        )
    if viewport == "phone":
        overflow = page.evaluate(OVERFLOW_JS)
        if overflow["scroll"] > overflow["width"] + 1:
            found.append(
                f"{visit.label} [{page.url}]: scrolls sideways on a phone "
                f"({overflow['scroll']} px > {overflow['width']} px): {overflow['wide']}"
            )
    return found


def open_as(chromium: Any, site: Site, user: str, scheme: str, viewport: str) -> Any:
    """A page in a fresh context of ``scheme`` and ``viewport``, logged in as ``user`` (if any)
    with the theme ``scheme`` picked in the header, as that user would."""
    context = chromium.new_context(viewport=VIEWPORTS[viewport], color_scheme=scheme)
    page = context.new_page()
    if user:
        log_in(page, site.url, user, ADMIN_PASSWORD if user == "admin" else READER_PASSWORD)
        page.click(f"form.theme button[value={scheme}]")
        page.wait_for_selector(f"html[data-theme={scheme}]")
    return page


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_has_no_serious_accessibility_violation(
    chromium, site, tmp_path, scheme, viewport
):
    routes, unknown = route_visits(page_routes(tmp_path), site)
    assert not unknown, (
        f"pages this test cannot open: {unknown}; add them to PAGES (or NOT_PAGES if they "
        "answer no HTML)"
    )
    visits = routes + extra_pages(site)
    pages: dict[str, Any] = {}
    problems: list[str] = []
    try:
        for visit in visits:
            if visit.user not in pages:
                pages[visit.user] = open_as(chromium, site, visit.user, scheme, viewport)
            page = pages[visit.user]
            if visit.reach is not None:
                visit.reach(page, site)
            else:
                response = page.goto(site.url + visit.path)
                kind = response.headers.get("content-type", "") if response else ""
                assert kind.startswith("text/html"), (
                    f"{visit.label} ({visit.path}) answers {kind!r}, not a page: "
                    "list it in NOT_PAGES"
                )
            page.wait_for_selector(visit.ready, timeout=30_000)
            if visit.user:
                assert page.get_attribute("html", "data-theme") == scheme, visit.label
            problems += problems_of(page, visit, viewport)
            shot = SCREENSHOTS.get((visit.label, scheme, viewport))
            if shot:
                page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=viewport == "phone")
    finally:
        for page in pages.values():
            page.context.close()
    assert not problems, "\n".join(problems)
    # Sanity: the checks looked at the pages they were meant to.
    assert len(visits) >= 20, [v.label for v in visits]


def test_every_blueprint_page_route_is_known_to_the_check(tmp_path):
    """A GET route of the web UI is either opened by the check above or said to be no page."""
    routes = page_routes(tmp_path)
    one_each = {"secrets": [1], "environments": [1], "cron": [1]}
    site = Site(server=None, done=1, failed=2, blocked=3, settings_ids=one_each)  # type: ignore[arg-type]
    visits, unknown = route_visits(routes, site)
    assert not unknown, f"add to PAGES or NOT_PAGES: {unknown}"
    visited = {v.label for v in visits}
    assert visited | set(NOT_PAGES) >= set(routes)
    assert "/repos/acme/app/1" in {v.path for v in visits}, "the build page, from KNOWN"
