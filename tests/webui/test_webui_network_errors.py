"""Pages survive requests that fail without an answer, in Chromium against a real `runner server`
with its agent and Docker: a browser fails the requests in flight when the machine's network
changes (net::ERR_NETWORK_CHANGED, as beside a Docker engine whenever a build's network is made or
removed). Such a failure is made here by the browser's routing, which fails a request as the
network would: the log's tail is fetched again, and a page whose shared live worker could not
start follows the log on its own stream."""

from __future__ import annotations

import pytest
from test_webui_live import DEADLINE, SLUG, Live, last_line, line_number, log_in, ticking, wait_line

from tests.fixtures.browser import chromium

pytestmark = [
    pytest.mark.docker,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.xdist_group("chromium-heavy"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory, docker_client):
    world = Live(tmp_path_factory.mktemp("webui-network"), capacity=2)
    yield world
    world.server.stop()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_a_log_tail_that_failed_on_the_network_is_fetched_again(live, browser):
    number = live.push([("work", ["echo first", "echo done"])], branch="flaky-tail")
    live.server.wait_build(SLUG, number, live.admin)
    step = live.step(number, "work", status="success")
    context = browser.new_context()
    tries: list[str] = []

    def fail_twice(route):
        tries.append(route.request.url)
        if len(tries) <= 2:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    try:
        page = log_in(context, live.server.url)
        context.route("**/logs/*/tail.json*", fail_twice)
        page.goto(live.page_url(number, step))
        wait_line(page, "done")
        assert len(tries) == 3, tries
        assert page.inner_text("#log-state") == ""
    finally:
        context.close()


def test_a_page_whose_shared_worker_failed_follows_the_log_on_its_own_stream(live, browser):
    number = live.push([("work", ticking(4000, "0.5"))], branch="no-worker")
    context = browser.new_context()
    refused: list[str] = []

    def refuse(route):
        refused.append(route.request.url)
        route.abort("internetdisconnected")

    try:
        log_in(context, live.server.url).close()
        context.route("**/live-worker.js", refuse)
        step = live.step(number, "work")
        page = context.new_page()
        page.goto(live.page_url(number, step))
        page.wait_for_function(
            "() => document.getElementById('log-state').textContent === 'live'", timeout=DEADLINE
        )
        assert refused, "the worker's script was never asked for"
        assert page.evaluate("() => window.RunnerLive.open().shared") is False
        seen = line_number(last_line(page))
        page.wait_for_function(
            "(n) => { const r = document.querySelectorAll('#log .ln > span');"
            " const t = r.length ? r[r.length - 1].textContent : '';"
            " return parseInt(t.split(' ').pop(), 10) > n + 2; }",
            arg=seen,
            timeout=DEADLINE,
        )
    finally:
        context.close()
        live.cancel(number)
