"""The deployments page of a repository, as a reader sees it: each environment with what is
live (version, build, commit, image, by, approved by, agent, state and share), a canary beside
it, the history newest first (filtered by environment), text from a deploy report escaped; the
tab on the repository's pages; the build page saying where the build is deployed; and the page
in Chromium, with its screenshot (docs/screenshots/deployments.png)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.core import BLOCKED, SUCCESS
from tests.store.helpers import make_build, make_stage
from tests.webui.conftest import browser_login

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def deployed(stores, seeded):
    """On acme/web: v1.0 live in production (approved by writer, run by agent prod-1), then a
    canary of v1.1 at 10% with an HTML message."""
    repo = seeded.repo
    if stores.environments.find(repo.id, "production") is None:
        stores.environments.create(repo.id, "production", tags=["v*"], approval_required=True)
    stores.environments.create(repo.id, "staging", branches=["develop"])
    agent = stores.agents.create("prod-1", labels={"deploy": "web"})

    def run(tag: str, report: dict | None = None):
        build = make_build(repo.id, make_stage("deploy", labels={"deploy": "web"}))
        build.target, build.tag, build.sender, build.status = "production", tag, "alice", BLOCKED
        build.stages[0].status = BLOCKED
        build = stores.builds.create(build)
        stores.builds.approve(build.id, "writer")
        stage = stores.stages.claim(agent)
        if report:
            stores.deployments.report(build.id, report)
        stores.stages.done(stage.id, SUCCESS, agent_id=agent.id)
        return build

    live = run("v1.0", {"image": "registry.local/web:1.0", "strategy": "blue-green"})
    canary = run(
        "v1.1",
        {"state": "canary", "traffic_share": 10, "message": "<b>one</b> of ten replicas"},
    )
    return live, canary


def rows(html: str, table: str) -> list[str]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    found = re.findall(r"<tr[^>]*data-(?:kind|id)=[^>]*>(.*?)</tr>", body, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in found]


def test_a_reader_sees_what_is_live_and_the_history(client_as, seeded, deployed):
    live, canary = deployed
    page = client_as("reader").get("/repos/acme/web/deployments")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    environments = rows(html, "environments")
    assert environments[0].startswith(f"production live v1.0 #{live.number} push aaaaaaaaaa")
    assert "registry.local/web:1.0" in environments[0]
    assert "alice writer prod-1 live blue-green" in environments[0]
    assert environments[1].startswith(f"canary v1.1 #{canary.number}")
    assert "canary 10%" in environments[1]
    assert environments[2].startswith("deploying main@0123456"), "the seeded builds wait"
    assert environments[3] == "staging nothing deployed yet"
    history = rows(html, "history")
    assert [h.split()[:2] for h in history][:2] == [["production", "v1.1"], ["production", "v1.0"]]
    assert "&lt;b&gt;one&lt;/b&gt; of ten replicas" in html and "<b>one</b>" not in html


def test_the_history_of_one_environment(client_as, seeded, deployed):
    html = client_as("reader").get("/repos/acme/web/deployments?environment=staging")
    assert rows(html.get_data(as_text=True), "history") == []
    assert "No deployments yet." in html.get_data(as_text=True)


def test_the_repository_tabs_link_the_page_for_readers(client_as, seeded):
    html = client_as("reader").get("/repos/acme/web").get_data(as_text=True)
    assert 'href="/repos/acme/web/deployments"' in html


def test_the_build_page_says_where_the_build_is_deployed(client_as, seeded, deployed):
    live, _canary = deployed
    html = client_as("reader").get(f"/repos/acme/web/{live.number}").get_data(as_text=True)
    deployed_line = html.split('id="deployed">', 1)[1].split("</p>", 1)[0]
    assert (
        " ".join(re.sub(r"<[^>]+>", " ", deployed_line).split()) == "Deployed to production : live"
    )


def test_bad_paging_on_the_page_is_a_400(client_as, seeded):
    assert client_as("reader").get("/repos/acme/web/deployments?before=x").status_code == 400


@pytest.mark.browser
def test_the_page_in_a_browser_shows_the_live_version_and_its_canary(
    browser, served, seeded, deployed
):
    live, canary = deployed
    context = browser.new_context(viewport={"width": 1400, "height": 800})
    try:
        page = context.new_page()
        browser_login(page, served.url, "reader")
        page.goto(served.url + "/repos/acme/web")
        page.click("text=Deployments")
        page.wait_for_selector("#environments")
        first = page.locator('#environments tr[data-kind="live"]').inner_text()
        assert "v1.0" in first and "prod-1" in first and "writer" in first
        canary_row = page.locator('#environments tr[data-kind="canary"]').inner_text()
        assert "10%" in canary_row and "<b>one</b> of ten replicas" in canary_row
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "deployments.png"), full_page=True)
        page.click(f'#environments tr[data-kind="live"] a:text("#{live.number}")')
        page.wait_for_selector("#deployed")
        assert page.locator("#deployed").inner_text() == "Deployed to production: live"
    finally:
        context.close()
