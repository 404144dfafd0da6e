"""A signed GitHub or GitLab push webhook to a real server runs the build in Docker; the API
shows every step's status and complete log, and the live stream delivers lines while the step
is still running."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.e2e.conftest import add_repo
from tests.e2e.harness import github_push, gitlab_push, sse_events

PIPELINE = """\
kind: pipeline
type: docker
name: default

steps:
- name: greet
  image: runner-test/busybox
  commands:
  - echo "hello from $DRONE_REPO at $DRONE_COMMIT_SHA"
  - seq 1 3
- name: slow
  image: runner-test/busybox
  commands:
  - echo first line
  - sleep 3
  - echo last line
"""

pytestmark = [pytest.mark.docker]


def _step(build: dict, name: str) -> dict:
    for stage in build["stages"]:
        for step in stage["steps"]:
            if step["name"] == name:
                return {**step, "stage": stage["number"]}
    raise AssertionError(f"no step {name} in {build}")


def _log(server, token, slug, number, step) -> str:
    resp = server.api(
        "GET", f"/repos/{slug}/builds/{number}/logs/{step['stage']}/{step['number']}", token
    )
    assert resp.status_code == 200
    return resp.text


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_push_webhook_runs_the_build_and_streams_its_log(
    server, admin_token, local_repo, forge, docker_client
):
    slug = f"acme/{forge}-app"
    repo = add_repo(server, admin_token, slug, local_repo, forge=forge)
    sha = local_repo.commit({".drone.yml": PIPELINE}, message="add pipeline")
    make = github_push if forge == "github" else gitlab_push
    headers, body = make(slug, local_repo, sha, repo["webhook_secret"])

    resp = requests.post(f"{server.url}/hook/{slug}", data=body, headers=headers, timeout=30)
    assert resp.status_code in (200, 201), resp.text
    builds = server.api("GET", f"/repos/{slug}/builds", admin_token).json()
    assert len(builds) == 1
    number = builds[0]["number"]
    assert builds[0]["commit"] == sha

    # Follow the slow step live: its first line must arrive while it still runs.
    seen_running = threading.Event()
    live_lines: list[str] = []

    def follow():
        build = server.api("GET", f"/repos/{slug}/builds/{number}", admin_token).json()
        slow = _step(build, "slow")
        url = (
            f"{server.url}/api/v1/repos/{slug}/builds/{number}/logs/"
            f"{slow['stage']}/{slow['number']}/stream"
        )
        with requests.get(
            url, headers={"Authorization": f"Bearer {admin_token}"}, stream=True, timeout=60
        ) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            assert stream.headers["X-Accel-Buffering"] == "no"
            for event, _ident, data in sse_events(stream):
                if event == "end":
                    return
                live_lines.extend(data)
                if "first line" in data:
                    now = server.api("GET", f"/repos/{slug}/builds/{number}", admin_token).json()
                    if _step(now, "slow")["status"] == "running":
                        seen_running.set()

    follower = threading.Thread(target=follow)
    follower.start()
    build = server.wait_build(slug, number, admin_token)
    follower.join(60)

    assert build["status"] == "success", build
    assert seen_running.is_set(), f"no line arrived while the step ran: {live_lines}"
    assert live_lines == [
        "+ echo first line",
        "first line",
        "+ sleep 3",
        "+ echo last line",
        "last line",
    ]
    for name in ("greet", "slow"):
        assert _step(build, name)["status"] == "success"
    greet_log = _log(server, admin_token, slug, number, _step(build, "greet"))
    assert f"hello from {slug} at {sha}" in greet_log
    assert greet_log.endswith("1\n2\n3\n")
    slow_log = _log(server, admin_token, slug, number, _step(build, "slow"))
    assert slow_log == "\n".join(live_lines) + "\n"

    # The finished build leaves no container, volume or network of this agent behind (the
    # agent reports the stage first and removes what it made right after).
    mine = {"label": f"pipeline-runner.agent={server.env['RUNNER_AGENT_NAME']}"}

    def leftovers():
        # sparse: no inspect of each container listed, which the agent may be removing now
        return (
            docker_client.containers.list(all=True, filters=mine, sparse=True)
            + docker_client.networks.list(filters=mine)
            + docker_client.volumes.list(filters=mine)
        )

    deadline = time.monotonic() + 60
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers() == []
