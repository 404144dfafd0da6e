"""Commit statuses reach a local HTTP receiver speaking each forge's status API when a build is
created, starts and ends; a failing forge is logged and never fails the build."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_trigger import SIMPLE, Origin, close_services, make_services, push_event

from runner.server.status import status_reporter

TOKEN = "forge-token-xyz"


class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST; answers ``code``."""

    def __init__(self):
        self.requests: list[dict] = []
        self.code = 201
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
                )
                self.send_response(receiver.code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    recv = Receiver()
    yield recv
    recv.close()


@pytest.fixture
def hub(tmp_path):
    services = make_services(tmp_path)
    yield services
    close_services(services)


@pytest.fixture
def origin(tmp_path):
    return Origin(tmp_path / "git")


def start(hub, origin, receiver, forge: str, api_path: str):
    sha = origin.commit({".drone.yml": SIMPLE}, "Add CI")
    repo = hub.stores.repos.create(
        "acme/app",
        forge=forge,
        clone_url=origin.url,
        forge_url=receiver.url + api_path,
        forge_token=TOKEN,
    )
    build = hub.triggerer.trigger(repo, push_event(sha))
    reporter = status_reporter(hub)
    assert reporter.wait_idle()
    return sha, build, reporter


def finish(hub, reporter, build, status: str) -> None:
    """Walk the build through running to ``status`` the way the scheduler's poll sees it."""
    hub.stores.builds.update(build.id, status="running")
    reporter.poll()
    assert reporter.wait_idle()
    hub.stores.builds.update(build.id, status=status)
    reporter.poll()
    assert reporter.wait_idle()


def test_github_statuses_for_created_running_and_finished(hub, origin, receiver):
    sha, build, reporter = start(hub, origin, receiver, "github", "/api/v3")
    finish(hub, reporter, build, "success")
    states = [r["json"]["state"] for r in receiver.requests]
    assert states == ["pending", "pending", "success"]
    first = receiver.requests[0]
    assert first["path"] == f"/api/v3/repos/acme/app/statuses/{sha}"
    assert first["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert first["json"]["target_url"] == "http://ci.example.com/repos/acme/app/1"
    assert first["json"]["context"] == "continuous-integration/pipeline-runner/push"
    assert receiver.requests[1]["json"]["description"] == "Build is running"
    assert receiver.requests[2]["json"]["description"] == "Build succeeded"
    # Polling again without a change sends nothing more.
    reporter.poll()
    reporter.build_changed(build.id)
    assert reporter.wait_idle()
    assert len(receiver.requests) == 3


def test_gitlab_statuses(hub, origin, receiver):
    sha, build, reporter = start(hub, origin, receiver, "gitlab", "/api/v4")
    finish(hub, reporter, build, "failure")
    assert [r["json"]["state"] for r in receiver.requests] == ["pending", "running", "failed"]
    first = receiver.requests[0]
    assert first["path"] == f"/api/v4/projects/acme%2Fapp/statuses/{sha}"
    assert first["headers"]["PRIVATE-TOKEN"] == TOKEN
    assert first["json"]["ref"] == "refs/heads/main"
    assert first["json"]["name"] == "continuous-integration/pipeline-runner/push"


@pytest.mark.parametrize("forge", ["gitea", "gogs"])
def test_gitea_and_gogs_statuses(hub, origin, receiver, forge):
    sha, build, reporter = start(hub, origin, receiver, forge, "/api/v1")
    finish(hub, reporter, build, "killed")
    assert [r["json"]["state"] for r in receiver.requests] == ["pending", "pending", "error"]
    assert receiver.requests[0]["path"] == f"/api/v1/repos/acme/app/statuses/{sha}"
    assert receiver.requests[0]["headers"]["Authorization"] == f"token {TOKEN}"


def test_generic_status_posts_the_build_state(hub, origin, receiver):
    sha, build, reporter = start(hub, origin, receiver, "generic", "/ci-status")
    finish(hub, reporter, build, "success")
    assert [r["json"]["status"] for r in receiver.requests] == ["pending", "running", "success"]
    assert receiver.requests[0]["path"] == "/ci-status"
    assert receiver.requests[0]["json"]["commit"] == sha


def test_a_failing_forge_is_logged_and_the_build_goes_on(hub, origin, receiver, caplog):
    receiver.code = 500
    with caplog.at_level(logging.WARNING, logger="runner.server.status"):
        sha, build, reporter = start(hub, origin, receiver, "github", "")
        finish(hub, reporter, build, "success")
    assert hub.stores.builds.get(build.id).status == "success"
    assert "answered 500" in caplog.text and "not reported" in caplog.text
    # Once the forge answers again, the current status gets through.
    receiver.code = 201
    reporter.build_changed(build.id)
    assert reporter.wait_idle()
    assert receiver.requests[-1]["json"]["state"] == "success"


def test_an_unreachable_forge_is_logged(hub, origin, caplog):
    sha = origin.commit({".drone.yml": SIMPLE}, "Add CI")
    repo = hub.stores.repos.create(
        "acme/app",
        forge="github",
        clone_url=origin.url,
        forge_url="http://127.0.0.1:9",  # discard port: nothing listens
        forge_token=TOKEN,
    )
    with caplog.at_level(logging.WARNING, logger="runner.server.status"):
        build = hub.triggerer.trigger(repo, push_event(sha))
        assert status_reporter(hub).wait_idle(timeout=30)
    assert build.status == "pending"
    assert "check the forge URL" in caplog.text


def test_no_token_means_no_status(hub, origin, receiver):
    sha = origin.commit({".drone.yml": SIMPLE}, "Add CI")
    repo = hub.stores.repos.create(
        "acme/app", forge="github", clone_url=origin.url, forge_url=receiver.url
    )
    hub.triggerer.trigger(repo, push_event(sha))
    assert status_reporter(hub).wait_idle()
    assert receiver.requests == []
