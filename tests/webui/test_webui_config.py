"""The build page's "Compiled configuration" in Chromium: the stages and steps the server stored
for the build, as ``runner plan`` shows them, with secrets by name only, HTML in the file shown
as text, and the read role required.

Woodpecker's pipeline view has a configuration tab beside the logs (woodpecker-ci/woodpecker,
web/src/views/repo/pipeline/, the pipeline's "Config" tab backed by
``GET /api/repos/{repo_id}/pipelines/{number}/config``); this page shows the compiled form.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runner.core import Build
from runner.pipeline.config import load_pipeline
from runner.pipeline.spec import BuildContext
from runner.store.builds import stage_from_spec
from tests.webui.conftest import browser_login

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

XSS_COMMAND = "echo '<script>window.__xss=7</script>'"
XSS_TITLE = '<img src=x onerror="window.__xss=8">'
SECRET_VALUE = "v4lue-never-shown-9f2c"
PIPELINE = f"""kind: pipeline
type: docker
name: build
steps:
- name: test
  image: golang:1.21
  environment:
    TITLE: '{XSS_TITLE}'
    DEPLOY_KEY:
      from_secret: deploy_key
  commands:
  - "{XSS_COMMAND}"
- name: publish
  image: plugins/s3
  settings:
    bucket: site
    secret_key:
      from_secret: deploy_key
"""


@pytest.fixture
def compiled_build(stores, seeded):
    """A build of ``PIPELINE`` stored as the triggerer stores one: its compiled stage specs."""
    stores.secrets.set(seeded.repo.id, "deploy_key", SECRET_VALUE, events=["push"])
    ctx = BuildContext(repo="acme/web", event="push", branch="main", commit="0" * 40)
    specs = load_pipeline({".drone.yml": PIPELINE}, ctx).stages
    build = Build(
        id=0,
        repo_id=seeded.repo.id,
        number=0,
        event="push",
        status="success",
        branch="main",
        commit=ctx.commit,
        context=ctx.to_dict(),
        created=time.time(),
        stages=[stage_from_spec(spec, status="success") for spec in specs],
    )
    return stores.builds.create(build)


def test_compiled_configuration_shows_the_stored_plan_with_secrets_by_name(
    browser, served, compiled_build
):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        browser_login(page, served.url, "reader")
        page.goto(f"{served.url}/repos/acme/web/{compiled_build.number}")
        page.click("#compiled-config")
        page.wait_for_selector("section.plan-stage[data-stage='build']")
        steps = page.eval_on_selector_all(
            "section[data-stage='build'] details.plan-step", "els => els.map(e => e.dataset.step)"
        )
        assert steps == ["clone", "test", "publish"]
        test = page.locator("details[data-step='test']")
        assert test.locator("pre.commands").inner_text() == XSS_COMMAND
        env = test.locator("dl.env").inner_text()
        assert XSS_TITLE in env and "secret deploy_key" in env
        settings = page.locator("details[data-step='publish'] dl.settings").inner_text()
        assert "PLUGIN_BUCKET" in settings and "site" in settings
        assert "PLUGIN_SECRET_KEY" in settings and "secret deploy_key" in settings
        assert SECRET_VALUE not in page.content()
        assert page.evaluate("window.__xss") is None
        assert page.query_selector("img[src=x]") is None
        page.screenshot(path=str(SHOTS / "build-config.png"), full_page=True)
    finally:
        context.close()


def test_compiled_configuration_needs_the_read_role(app, seeded, client_as, compiled_build):
    url = f"/repos/acme/web/{compiled_build.number}/config"
    assert client_as("reader").get(url).status_code == 200
    assert app.test_client().get(url).status_code in (302, 401)  # not signed in
    private = seeded.private_repo.slug
    assert client_as("reader").get(f"/repos/{private}/1/config").status_code == 404
