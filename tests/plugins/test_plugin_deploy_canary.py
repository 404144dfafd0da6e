"""The deploy plugin's canary strategy on a real single-node Docker Swarm: a canary of version B
next to live A serves part of the requests a client on the network alias makes (counted over
240 requests from a container on that network), promote moves every request to B and removes
the canary, abort and a failing health check remove the canary and leave A untouched; each run
writes the deploy report the runner reads. And the same through ``runner exec`` with the plugin
image: a pipeline starts a canary, measures from a step on the service's network, promotes.

The plugin's entry point runs in this process against the host socket, as the other swarm tests
do. The app is a small HTTP server on runner-test/python that answers with its version."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter

import deploy_plugin
import docker
import pytest

from tests.plugins.conftest import PYTHON, SWARM_APP, TEST_LABEL, PluginRun, running_images

SERVER = """
import http.server, os
class Version(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ["APP_VERSION"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", 8000), Version).serve_forever()
"""
HEALTHY = "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')\""
# Each request resolves the name again (a new connection), as a client without a DNS cache does.
CLIENT = """
import collections, json, sys, urllib.request
seen = collections.Counter()
for _ in range(int(sys.argv[2])):
    try:
        seen[urllib.request.urlopen(f"http://{sys.argv[1]}:8000/", timeout=5).read().decode()] += 1
    except Exception as exc:
        seen[f"error {type(exc).__name__}"] += 1
print(json.dumps(seen))
"""


@pytest.fixture
def web(docker_client, swarm, run_id, tmp_path_factory):
    """Versions a, b and bad (health check fails) of the app, an attachable overlay network,
    and the live service web-<id> running a with 3 replicas, endpoint mode dnsrr."""
    folder = tmp_path_factory.mktemp("canary-app")
    (folder / "server.py").write_text(SERVER)
    images = {}
    for version, check in (("a", HEALTHY), ("b", HEALTHY), ("bad", "false")):
        (folder / "Dockerfile").write_text(
            f"FROM {PYTHON}\nENV APP_VERSION={version}\nCOPY server.py /server.py\n"
            f"HEALTHCHECK --interval=1s --timeout=10s --retries=3 --start-period=15s CMD {check}\n"
            'CMD ["python3", "/server.py"]\n'
        )
        ref = f"{SWARM_APP}:canary-{version}-{run_id}"
        docker_client.images.build(
            path=str(folder), tag=ref, labels={TEST_LABEL: "1"}, rm=True, forcerm=True
        )
        images[version] = ref
    network = docker_client.networks.create(
        f"canary-{run_id}", driver="overlay", attachable=True, labels={TEST_LABEL: "1"}
    )
    name = f"web-{run_id}"
    docker_client.services.create(
        images["a"],
        name=name,
        labels={TEST_LABEL: "1"},
        networks=[network.name],
        mode=docker.types.ServiceMode("replicated", replicas=3),
        endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
    )
    try:
        assert running_images(docker_client, name) == {images["a"]}
        yield {"name": name, "network": network.name, **images}
    finally:
        for service in docker_client.services.list(filters={"label": TEST_LABEL}):
            service.remove()
        _until(lambda: not _tasks_on(docker_client, network.name), 60)
        try:
            network.remove()
        except docker.errors.APIError:
            pass  # the swarm's end removes it
        for ref in images.values():
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.APIError:
                pass


def _until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _tasks_on(docker_client, network: str) -> list[str]:
    try:
        return list(docker_client.networks.get(network).attrs.get("Containers") or {})
    except docker.errors.NotFound:
        return []


def _deploy(in_process, env) -> PluginRun:
    code, output = in_process(deploy_plugin.main, env)
    return PluginRun(code, output)


def _served(docker_client, web, requests: int = 240) -> Counter[str]:
    """The versions that answered ``requests`` calls to the live service's name, made from a
    container on its network."""
    container = docker_client.containers.create(
        PYTHON,
        ["python3", "-c", CLIENT, web["name"], str(requests)],
        network=web["network"],
        labels={TEST_LABEL: "1"},
    )
    try:
        container.start()
        result = container.wait(timeout=300)
        output = container.logs().decode()
    finally:
        container.remove(force=True)
    assert result["StatusCode"] == 0, output
    return Counter(json.loads(output.strip().splitlines()[-1]))


def _canary(docker_client, web):
    found = docker_client.services.list(filters={"name": f"{web['name']}-canary"})
    return [s for s in found if s.name == f"{web['name']}-canary"]


def _live(docker_client, web) -> dict:
    return docker_client.services.get(web["name"]).attrs


@pytest.mark.docker
def test_canary_serves_part_of_the_requests_and_promote_moves_all_to_it(
    docker_client, in_process, web, tmp_path
):
    report = tmp_path / "reports" / "deploy.json"
    env = {
        "PLUGIN_SERVICE": web["name"],
        "PLUGIN_STRATEGY": "canary",
        "PLUGIN_IMAGE": web["b"],
        "PLUGIN_CANARY_PERCENT": "25",
        "PLUGIN_MONITOR": "3",
        "PLUGIN_TIMEOUT": "180",
        "RUNNER_DEPLOY_REPORT": str(report),
    }

    result = _deploy(in_process, env)

    assert result.exit_code == 0, result.output
    message = f"1 canary replica(s) of {web['b']} next to 3 live (25%)"
    assert json.loads(report.read_text()) == {
        "state": "canary",
        "strategy": "canary",
        "traffic_share": 25,
        "image": web["b"],
        "message": message,
    }
    assert running_images(docker_client, f"{web['name']}-canary") == {web["b"]}
    assert running_images(docker_client, web["name"]) == {web["a"]}
    served = _served(docker_client, web)
    assert set(served) == {"a", "b"}, served
    # 1 of 4 replicas: about 60 of 240; a wide band, for the shuffle is random.
    assert 12 <= served["b"] <= 140, served

    result = _deploy(in_process, dict(env, PLUGIN_ACTION="promote"))

    assert result.exit_code == 0, result.output
    assert _canary(docker_client, web) == []
    assert running_images(docker_client, web["name"]) == {web["b"]}
    assert _served(docker_client, web) == Counter({"b": 240})
    written = json.loads(report.read_text())
    assert (written["state"], written["traffic_share"], written["image"]) == ("live", 100, web["b"])


@pytest.mark.docker
def test_canary_failing_its_health_check_is_removed_and_fails_the_step(
    docker_client, in_process, web, tmp_path
):
    report = tmp_path / "deploy.json"
    live_version = _live(docker_client, web)["Version"]["Index"]
    env = {
        "PLUGIN_SERVICE": web["name"],
        "PLUGIN_STRATEGY": "canary",
        "PLUGIN_IMAGE": web["bad"],
        "PLUGIN_AUTO_PROMOTE": "true",
        "PLUGIN_MONITOR": "3",
        "PLUGIN_TIMEOUT": "120",
        "RUNNER_DEPLOY_REPORT": str(report),
    }

    result = _deploy(in_process, env)

    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"error: canary of {web['bad']} failed (task failed:"), last
    assert "unhealthy" in last and f"canary removed, {web['name']} untouched" in last
    assert _canary(docker_client, web) == []
    assert _live(docker_client, web)["Version"]["Index"] == live_version
    assert _served(docker_client, web, requests=40) == Counter({"a": 40})
    written = json.loads(report.read_text())
    assert (written["state"], written["traffic_share"]) == ("aborted", 0)
    assert last == f"error: {written['message']}"


@pytest.mark.docker
def test_canary_abort_removes_it_and_leaves_the_live_service_untouched(
    docker_client, in_process, web, tmp_path
):
    report = tmp_path / "deploy.json"
    live_version = _live(docker_client, web)["Version"]["Index"]
    env = {
        "PLUGIN_SERVICE": web["name"],
        "PLUGIN_STRATEGY": "canary",
        "PLUGIN_IMAGE": web["b"],
        "PLUGIN_CANARY_REPLICAS": "2",
        "PLUGIN_MONITOR": "2",
        "RUNNER_DEPLOY_REPORT": str(report),
    }
    result = _deploy(in_process, env)
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["traffic_share"] == 40  # 2 next to 3

    result = _deploy(
        in_process,
        {
            "PLUGIN_SERVICE": web["name"],
            "PLUGIN_STRATEGY": "canary",
            "PLUGIN_ACTION": "abort",
            "RUNNER_DEPLOY_REPORT": str(report),
        },
    )

    assert result.exit_code == 0, result.output
    assert f"aborted: canary {web['name']}-canary of {web['b']} removed" in result.output
    assert _canary(docker_client, web) == []
    assert _live(docker_client, web)["Version"]["Index"] == live_version
    assert _served(docker_client, web, requests=40) == Counter({"a": 40})
    written = json.loads(report.read_text())
    assert (written["state"], written["traffic_share"], written["image"]) == (
        "aborted",
        0,
        web["b"],
    )


PIPELINE = """\
kind: pipeline
type: docker
name: release

steps:
  - name: canary
    image: {deploy}
    settings:
      service: {service}
      strategy: canary
      image: {new}
      canary_replicas: 1
      monitor: 3
    volumes:
      - name: docker-socket
        path: /var/run/docker.sock
  - name: measure-canary
    image: {python}
    network_mode: {network}
    commands:
      - {measure}
  - name: promote
    image: {deploy}
    settings:
      service: {service}
      strategy: canary
      action: promote
    volumes:
      - name: docker-socket
        path: /var/run/docker.sock
  - name: measure-promoted
    image: {python}
    network_mode: {network}
    commands:
      - {measure}

volumes:
  - name: docker-socket
    host:
      path: /var/run/docker.sock
"""
MEASURE = (
    "python3 -c \"import collections, urllib.request; print('served', dict(collections.Counter("
    "urllib.request.urlopen('http://{service}:8000/', timeout=5).read().decode() "
    'for _ in range(240))))"'
)


@pytest.mark.docker
def test_runner_exec_pipeline_starts_measures_and_promotes_a_canary(
    docker_client, plugin_images, web, tmp_path, run_id
):
    project = tmp_path / "project"
    project.mkdir()
    (project / ".pipeline.yml").write_text(
        PIPELINE.format(
            deploy=plugin_images["deploy"],
            service=web["name"],
            new=web["b"],
            python=PYTHON,
            network=web["network"],
            measure=MEASURE.format(service=web["name"]),
        )
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run(git + ["add", "."], cwd=project, check=True)
    subprocess.run(git + ["commit", "-qm", "release"], cwd=project, check=True)

    result = subprocess.run(
        # --trusted: the measuring steps join the service's network (network_mode).
        [sys.executable, "-m", "runner", "exec", "--event", "tag", "--tag", "v1.3.0", "--trusted"],
        cwd=project,
        env={
            **os.environ,
            "RUNNER_EXEC_LABELS": f"{TEST_LABEL}={run_id}",
            "RUNNER_DATA_DIR": str(tmp_path / "data"),
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    canary, promoted = (
        Counter(ast.literal_eval(m)) for m in re.findall(r"served (\{.*\})", output)
    )
    assert set(canary) == {"a", "b"} and 12 <= canary["b"] <= 140, canary
    assert promoted == Counter({"b": 240}), output
    assert f"promoted: {web['name']} runs {web['b']}, canary removed" in output
    assert _canary(docker_client, web) == []
