"""Pages survive requests that fail without an answer, in Chromium against a real `runner server`
with its agent and Docker: a browser fails the requests in flight when the machine's network
changes (net::ERR_NETWORK_CHANGED, as beside a Docker engine whenever a build's network is made or
removed). Such a failure is made here by the browser's routing, which fails a request as the
network would: the log's tail is fetched again, and a page whose shared live worker could not
start follows the log on its own stream, as do the tabs of a worker that could not load its
core script."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_webui_live import DEADLINE, SLUG, Live, last_line, line_number, log_in, ticking, wait_line

from tests.fixtures.browser import chromium

STATIC = Path(__file__).resolve().parents[2] / "webui" / "static"

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


def wait_live(page) -> None:
    """Wait until the page says its log is live."""
    page.wait_for_function(
        "() => document.getElementById('log-state').textContent === 'live'", timeout=DEADLINE
    )


def wait_new_lines(page) -> None:
    """Wait until lines printed from now on reach the page."""
    page.wait_for_function(
        "(n) => { const r = document.querySelectorAll('#log .ln > span');"
        " const t = r.length ? r[r.length - 1].textContent : '';"
        " return parseInt(t.split(' ').pop(), 10) > n + 2; }",
        arg=line_number(last_line(page)),
        timeout=DEADLINE,
    )


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
        # An ended log is not called live, whatever the stream said meanwhile.
        page.wait_for_function(
            "() => document.getElementById('log-state').textContent === ''", timeout=DEADLINE
        )
    finally:
        context.close()


def test_a_page_whose_shared_worker_failed_follows_the_log_on_its_own_stream(live, browser):
    number = live.push([("work", ticking(4000, "0.5"))], branch="no-worker")
    context = browser.new_context()
    refused: list[str] = []

    def refuse(route):
        refused.append(route.request.url)
        route.abort("internetdisconnected")

    # Routed before any page of the context opens: no worker of it ever started.
    context.route("**/live-worker.js", refuse)
    try:
        log_in(context, live.server.url).close()
        step = live.step(number, "work")
        page = context.new_page()
        page.goto(live.page_url(number, step))
        wait_live(page)
        assert refused, "the worker's script was never asked for"
        assert page.evaluate("() => window.RunnerLive.open().shared") is False
        wait_new_lines(page)
    finally:
        context.close()
        live.cancel(number)


# A worker that loaded but could not load live-core.js (the browser's routing does not reach a
# worker's importScripts, so both halves are driven here): the worker's script, run with an
# importScripts that fails as the network does, answers each connecting tab "failed"...
WORKER_WITHOUT_CORE = """(source) => {
  const sent = [];
  self.importScripts = () => { throw new TypeError("Failed to fetch"); };
  (0, eval)(source);
  self.onconnect({ ports: [{ postMessage: (m) => sent.push(m), start() {} }] });
  return sent;
}"""
# ...and a page whose worker says so follows the log on its own stream.
FAILED_WORKER = """window.SharedWorker = function () {
  const channel = new MessageChannel();
  this.port = channel.port1;
  setTimeout(() => channel.port2.postMessage({ type: "failed" }), 0);
};"""


def test_a_shared_worker_without_its_core_script_sends_its_tabs_to_their_own_streams(live, browser):
    source = (STATIC / "live-worker.js").read_text()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto("about:blank")
        assert page.evaluate(WORKER_WITHOUT_CORE, source) == [{"type": "failed"}]
    finally:
        context.close()

    number = live.push([("work", ticking(4000, "0.5"))], branch="worker-without-core")
    context = browser.new_context()
    context.add_init_script(FAILED_WORKER)
    try:
        log_in(context, live.server.url).close()
        step = live.step(number, "work")
        page = context.new_page()
        page.goto(live.page_url(number, step))
        wait_live(page)
        assert page.evaluate("() => window.RunnerLive.open().shared") is False
        wait_new_lines(page)
    finally:
        context.close()
        live.cancel(number)
