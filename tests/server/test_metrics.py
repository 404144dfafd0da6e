"""`/metrics` of a real `runner server`, parsed with prometheus_client's parser: a webhook and a
build on the embedded agent (real Docker) move the counters and gauges as a user expects, a
stage no agent can take shows in the queue under its label set, and only the metrics token or a
server admin's token may read them."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from runner.engine.labels import LABEL_AGENT, LABEL_STEP
from runner.testing import LocalRepo, ServerProcess, github_push

METRICS_TOKEN = "metrics-token-for-the-tests-0123456789"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

# The second step waits for a file the test puts into its workspace, so the test sees the
# stage running for as long as it needs, however slow the machine.
PIPELINE = """\
kind: pipeline
type: docker
name: default

steps:
- name: greet
  image: runner-test/busybox
  commands:
  - echo "hello metrics"
  - seq 1 20
- name: hold
  image: runner-test/busybox
  commands:
  - while [ ! -f /drone/src/go ]; do sleep 0.2; done
  - echo released
"""

PRODUCTION_ONLY = """\
kind: pipeline
type: docker
name: deploy
node:
  env: production

steps:
- name: ship
  image: runner-test/busybox
  commands:
  - echo ship
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_client):
    proc = ServerProcess(
        tmp_path_factory.mktemp("metrics") / "data",
        agent_name=f"metrics-agent-{time.time_ns() % 100000}",
        lease_seconds=120,
        extra_env={"RUNNER_METRICS_TOKEN": METRICS_TOKEN},
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def admin_token(server):
    return server.token("admin")


def scrape(server: ServerProcess, token: str = METRICS_TOKEN) -> Samples:
    """Every sample of ``/metrics`` by (name, labels)."""
    resp = requests.get(
        server.url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert resp.status_code == 200, f"{resp.status_code} {resp.text[:300]}"
    assert resp.headers["Content-Type"].startswith("text/plain"), resp.headers
    samples: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value, 0 when absent (a counter no event has touched yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_metrics(
    server: ServerProcess, holds: Callable[[Samples], bool], what: str, timeout: float = 120
) -> Samples:
    """Scrape until ``holds(samples)``; the failure shows the runner_* samples last seen."""
    deadline = time.monotonic() + timeout
    samples: Samples = {}
    while time.monotonic() < deadline:
        samples = scrape(server)
        if holds(samples):
            return samples
        time.sleep(0.3)
    shown = sorted(
        f"{n}{dict(sorted(labels))} = {v}"
        for (n, labels), v in samples.items()
        if n.startswith("runner_") and not n.endswith("_bucket")
    )
    raise AssertionError(f"metrics never showed {what}; last seen:\n" + "\n".join(shown))


def add_repo(server: ServerProcess, token: str, slug: str, repo: LocalRepo) -> dict[str, Any]:
    resp = server.api(
        "POST", "/repos", token, json={"slug": slug, "forge": "github", "clone_url": repo.clone_url}
    )
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


def step_of(build: dict[str, Any], name: str) -> dict[str, Any]:
    for stage in build["stages"]:
        for step in stage["steps"]:
            if step["name"] == name:
                return dict(step)
    raise AssertionError(f"no step {name} in {build}")


def release_hold(docker_client, agent: str, timeout: float = 120) -> None:
    """Put the file the ``hold`` step waits for into its workspace, once its container runs
    (the step is reported running just before its container starts)."""
    labels = [f"{LABEL_AGENT}={agent}", f"{LABEL_STEP}=hold"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = docker_client.containers.list(filters={"label": labels, "status": "running"})
        if found:
            result = found[0].exec_run(["sh", "-c", "echo > /drone/src/go"])
            assert result.exit_code == 0, result.output
            return
        time.sleep(0.2)
    every = docker_client.containers.list(all=True, filters={"label": f"{LABEL_AGENT}={agent}"})
    raise AssertionError(
        f"no running hold container; the agent's: {[(c.name, c.status) for c in every]}"
    )


def test_a_webhook_and_a_build_move_the_counters_and_gauges(
    server, admin_token, docker_client, tmp_path
):
    agent = server.env["RUNNER_AGENT_NAME"]
    slug = "acme/metrics-build"
    local = LocalRepo(tmp_path / "git")
    repo = add_repo(server, admin_token, slug, local)
    sha = local.commit({".drone.yml": PIPELINE}, message="add pipeline")
    before = scrape(server)
    assert value(before, "runner_database_up") == 1
    assert value(before, "runner_agent_capacity", agent=agent) == 2

    headers, body = github_push(slug, local, sha, repo["webhook_secret"])
    resp = server.post_hook(slug, headers, body)
    assert resp.status_code == 201, resp.text
    number = resp.json()["build"]["number"]

    # While the stage runs: the agent holds one stage, the build and stage count as running,
    # and the claim's wait in the queue was observed once.
    server.wait_build(
        slug,
        number,
        admin_token,
        until=lambda b: step_of(b, "hold")["status"] == "running",
        what="started its hold step",
    )
    grew = value(before, "runner_stage_queue_wait_seconds_count") + 1
    running = wait_metrics(
        server,
        lambda s: (
            value(s, "runner_agent_running_stages", agent=agent) == 1
            and value(s, "runner_stage_queue_wait_seconds_count") >= grew
        ),
        "the agent running the stage",
    )
    assert value(running, "runner_stages", status="running") >= 1
    assert value(running, "runner_builds", status="running") >= 1
    claims = ("runner_rpc_request_duration_seconds_count", {"call": "claim", "code": "200"})
    assert value(running, claims[0], **claims[1]) >= value(before, claims[0], **claims[1]) + 1

    release_hold(docker_client, agent)
    build = server.wait_build(slug, number, admin_token)
    assert build["status"] == "success", server.explain_build(slug, build, admin_token)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    after = wait_metrics(
        server,
        lambda s: (
            value(s, "runner_stages_finished_total", status="success")
            > value(before, "runner_stages_finished_total", status="success")
            and value(s, "runner_agent_running_stages", agent=agent) == 0
        ),
        "the stage's end",
    )
    assert moved("runner_webhook_request_duration_seconds_count", code="201") == 1
    assert moved("runner_builds_created_total", origin="hook") == 1
    assert moved("runner_builds", status="success") == 1
    assert moved("runner_stages", status="success") == 1
    assert moved("runner_stages_finished_total", status="success") == 1
    assert moved("runner_stage_queue_wait_seconds_count") == 1
    # "hello metrics", 1..20 and "released", at least, were stored in log batches.
    assert moved("runner_log_written_bytes_total") >= len("hello metrics\n") + 51
    assert moved("runner_log_write_duration_seconds_count") >= 1
    assert moved("runner_rpc_request_duration_seconds_count", call="done", code="200") == 1
    assert moved("runner_rpc_request_duration_seconds_count", call="logs", code="200") >= 1
    assert value(after, "runner_agent_healthy", agent=agent) == 1
    assert value(after, "runner_agent_last_contact_timestamp_seconds", agent=agent) > 0


def test_a_stage_no_agent_can_take_waits_in_the_queue_under_its_labels(
    server, admin_token, tmp_path
):
    slug = "acme/metrics-queue"
    local = LocalRepo(tmp_path / "git")
    repo = add_repo(server, admin_token, slug, local)
    sha = local.commit({".drone.yml": PRODUCTION_ONLY}, message="deploy")
    before = scrape(server)
    headers, body = github_push(slug, local, sha, repo["webhook_secret"])
    resp = server.post_hook(slug, headers, body)
    assert resp.status_code == 201, resp.text
    number = resp.json()["build"]["number"]
    try:
        queued = wait_metrics(
            server,
            lambda s: value(s, "runner_queue_stages", labels="env=production") == 1,
            "the production stage in the queue",
        )
        assert value(queued, "runner_queue_oldest_wait_seconds", labels="env=production") >= 0
        assert value(queued, "runner_stages", status="pending") >= 1
        assert (
            value(queued, "runner_builds_created_total", origin="hook")
            == value(before, "runner_builds_created_total", origin="hook") + 1
        )
    finally:
        server.api("POST", f"/repos/{slug}/builds/{number}/cancel", admin_token)
    gone = wait_metrics(
        server,
        lambda s: value(s, "runner_queue_stages", labels="env=production") == 0,
        "the cancelled stage leaving the queue",
    )
    assert ("runner_queue_oldest_wait_seconds", frozenset({("labels", "env=production")})) not in (
        gone
    )


def test_only_the_metrics_token_or_a_server_admin_may_read_the_metrics(server, admin_token):
    url = server.url + "/metrics"
    reader_login = f"reader{time.time_ns() % 100000}"
    made = server.api(
        "POST", "/users", admin_token, json={"login": reader_login, "password": "reader-pass-1"}
    )
    assert made.status_code == 201, made.text
    reader = server.token(reader_login)
    agent = server.cli("user", "agent-token", f"m-agent-{time.time_ns() % 100000}").strip()
    refused = {
        "no credentials": ({}, 401),
        "a wrong token": ({"Authorization": "Bearer not-a-token"}, 401),
        "basic auth": ({"Authorization": "Basic YWRtaW46YWRtaW4="}, 401),
        "a user who is not an admin": ({"Authorization": f"Bearer {reader}"}, 403),
        "an agent": ({"Authorization": f"Bearer {agent}"}, 403),
    }
    for who, (headers, code) in refused.items():
        resp = requests.get(url, headers=headers, timeout=30)
        assert resp.status_code == code, f"{who}: {resp.status_code} {resp.text[:200]}"
        assert "runner_" not in resp.text, who
        assert "error" in resp.json(), who

    # A logged-in admin's browser session is not a way in (the endpoint reads no session).
    browser = requests.Session()
    page = browser.get(server.url + "/login", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf, page[:300]
    form = {"login": "admin", "password": server.admin_password, "csrf_token": csrf.group(1)}
    browser.post(server.url + "/login", data=form, timeout=30)
    assert browser.get(server.url + "/api/v1/user", timeout=30).status_code == 200
    assert browser.get(url, timeout=30).status_code == 401

    for who, token in (("the metrics token", METRICS_TOKEN), ("an admin", admin_token)):
        resp = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert resp.status_code == 200, f"{who}: {resp.status_code} {resp.text[:200]}"
        assert "runner_builds_created_total" in resp.text or "runner_database_up" in resp.text
        assert "Set-Cookie" not in resp.headers, who
        assert resp.headers.get("Cache-Control") == "no-store", who
