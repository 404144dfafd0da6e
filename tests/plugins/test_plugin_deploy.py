"""The deploy plugin calls a signed webhook with retries, and updates a real single-node
Docker Swarm service: health-checked rollout, automatic rollback, blue/green switch.

The swarm deploys run the plugin's entry point in this process against the host socket (the
same code the image runs): a swarm rollout takes 10-20 s, and a plugin container living that
long is exposed to other test sessions that sweep labelled containers on the shared engine."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time

import deploy_plugin
import docker
import pytest

from tests.plugins.conftest import BUSYBOX, TEST_LABEL, PluginRun

SIGNING_SECRET = "whsec-deploy-0123456789"
APP = "pipeline-runner/swarm-app"


def test_webhook_sends_the_signed_template_with_retries(plugin_env, receiver, in_process):
    receiver.statuses = [502, 503]  # then 200
    env = dict(
        plugin_env,
        DRONE_DEPLOY_TO="production",
        PLUGIN_URLS=f"{receiver.url}/deploy",
        PLUGIN_METHOD="put",
        PLUGIN_HEADERS='{"X-Env": "${DRONE_DEPLOY_TO}", "X-Build": "{{ build.number }}"}',
        PLUGIN_TEMPLATE='{"version": "{{ build.tag }}", "commit": "{{ build.commit }}", '
        '"note": "{{ build.message }}", "env": "${DRONE_DEPLOY_TO}"}',
        PLUGIN_SIGNATURE_SECRET=SIGNING_SECRET,
        PLUGIN_RETRIES="2",
        PLUGIN_RETRY_DELAY="0.01",
    )
    code, out = in_process(deploy_plugin.main, env)
    assert code == 0, out
    assert SIGNING_SECRET not in out
    assert len(receiver.requests) == 3
    last = receiver.requests[-1]
    assert last.method == "PUT" and last.path == "/deploy"
    assert last.json() == {
        "version": "v1.2.3",
        "commit": plugin_env["DRONE_COMMIT_SHA"],
        "note": 'Release "1.2.3"\nwith notes',
        "env": "production",
    }
    expected = "sha256=" + hmac.new(SIGNING_SECRET.encode(), last.body, hashlib.sha256).hexdigest()
    assert last.headers["X-Pipeline-Signature"] == expected
    assert (last.headers["X-Env"], last.headers["X-Build"]) == ("production", "42")


def test_webhook_unexpected_status_fails_in_one_line(plugin_env, receiver, in_process):
    receiver.statuses = [200]
    env = dict(plugin_env, PLUGIN_URLS=f"{receiver.url}/deploy", PLUGIN_EXPECTED_STATUS="201,202")
    code, out = in_process(deploy_plugin.main, env)
    assert code == 1
    last = out.strip().splitlines()[-1]
    assert last.startswith("error: POST http://127.0.0.1:") and "expected 201, 202" in last


def test_default_body_names_the_image_and_environment(plugin_env, receiver, in_process):
    env = dict(
        plugin_env,
        PLUGIN_WEBHOOK=f"{receiver.url}/hooks/deploy?token=abc123secret",
        PLUGIN_IMAGE="registry.example.com/acme/app:abc12345",
        PLUGIN_ENVIRONMENT="staging",
    )
    code, out = in_process(deploy_plugin.main, env)
    assert code == 0, out
    assert "abc123secret" not in out
    body = receiver.requests[0].json()
    assert body["image"] == "registry.example.com/acme/app:abc12345"
    assert body["build"]["deploy_to"] == "staging" and body["repo"]["full_name"] == "team/app"


@pytest.mark.parametrize(
    "settings, missing",
    [({}, "urls"), ({"PLUGIN_SERVICE": "web"}, "image"), ({"PLUGIN_MODE": "swarm"}, "service")],
)
def test_missing_settings_are_one_line(plugin_env, in_process, settings, missing):
    code, out = in_process(deploy_plugin.main, dict(plugin_env, **settings))
    assert code == 1
    assert out.strip().splitlines()[-1].startswith(f"error: missing required setting '{missing}'")


@pytest.mark.docker
def test_plugin_image_calls_the_webhook(plugin_images, run_plugin, receiver, plugin_env):
    env = dict(plugin_env, PLUGIN_URLS=f"{receiver.url}/hook", PLUGIN_SIGNATURE_SECRET="k3y-abc")
    result = run_plugin(plugin_images["deploy"], env, host_network=True)
    assert result.exit_code == 0, result.output
    (hook,) = receiver.requests
    assert hook.json()["build"]["tag"] == "v1.2.3"
    assert hook.headers["X-Pipeline-Signature"].startswith("sha256=")


def _swarm_state(docker_client) -> str:
    return docker_client.info().get("Swarm", {}).get("LocalNodeState", "")


def _wait_for_swarm_state(docker_client, wanted: str, deadline: float = 60.0) -> str:
    # `swarm leave` returns before the engine says so on a loaded machine.
    end = time.monotonic() + deadline
    state = _swarm_state(docker_client)
    while state != wanted and time.monotonic() < end:
        time.sleep(0.5)
        state = _swarm_state(docker_client)
    return state


@pytest.fixture
def swarm(docker_client, tmp_path_factory):
    """A single-node swarm on the local engine and three app images; left again afterwards.

    Per test: an engine has one swarm, and a module-wide one would stay up while the worker
    runs other modules' tests in between (pytest orders tests by their session fixtures)."""
    state = _wait_for_swarm_state(docker_client, "inactive")
    if state != "inactive":
        pytest.fail(f"the engine is already in swarm state {state!r}: leave it before the tests")
    # `swarm init` creates the docker_gwbridge network and `swarm leave` keeps it.
    had_gwbridge = bool(docker_client.networks.list(names=["docker_gwbridge"]))
    subprocess.run(
        ["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"],
        check=True,
        capture_output=True,
    )
    folder = tmp_path_factory.mktemp("swarm-app")
    images = {}
    try:
        for version, check in (("good1", "true"), ("good2", "true"), ("bad", "false")):
            (folder / "Dockerfile").write_text(
                f"FROM {BUSYBOX}\nRUN echo {version} > /version\n"
                f"HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD {check}\n"
                'CMD ["sleep", "3600"]\n'
            )
            ref = f"{APP}:test-{version}"
            docker_client.images.build(
                path=str(folder), tag=ref, labels={TEST_LABEL: "1"}, rm=True, forcerm=True
            )
            images[version] = ref
        yield images
    finally:
        for service in docker_client.services.list(filters={"label": TEST_LABEL}):
            service.remove()
        subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True)
        left = _wait_for_swarm_state(docker_client, "inactive")
        if not had_gwbridge:
            subprocess.run(["docker", "network", "rm", "docker_gwbridge"], capture_output=True)
        for ref in images.values():
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.APIError:
                pass
        assert left == "inactive", f"the swarm did not end: {left}"


def _service(docker_client, name, image, labels=None):
    return docker_client.services.create(
        image,
        name=name,
        labels={TEST_LABEL: "1", **(labels or {})},
        mode=docker.types.ServiceMode("replicated", replicas=2),
    )


def _deploy(in_process, env, image):
    code, output = in_process(deploy_plugin.main, dict(env, PLUGIN_IMAGE=image))
    return PluginRun(code, output)


def _running_images(docker_client, name):
    """Images of the service's running tasks, once swarm reports every wanted task running."""
    service = docker_client.services.get(name)
    for _ in range(60):
        tasks = service.tasks(filters={"desired-state": "running"})
        if tasks and all(t["Status"]["State"] == "running" for t in tasks):
            break
        time.sleep(0.5)
    return {t["Spec"]["ContainerSpec"]["Image"].split("@")[0] for t in tasks}


@pytest.mark.docker
def test_swarm_update_and_rollback_on_failed_health_check(docker_client, in_process, swarm, run_id):
    name = f"web-{run_id}"
    _service(docker_client, name, swarm["good1"])
    env = {"PLUGIN_SERVICE": name, "PLUGIN_MONITOR": "4", "PLUGIN_TIMEOUT": "120"}

    result = _deploy(in_process, env, swarm["good2"])
    assert result.exit_code == 0, result.output
    assert _running_images(docker_client, name) == {swarm["good2"]}

    result = _deploy(in_process, env, swarm["bad"])
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert f"rolled back to {swarm['good2']}" in last and "unhealthy" in last
    spec = docker_client.services.get(name).attrs["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == swarm["good2"]
    assert _running_images(docker_client, name) == {swarm["good2"]}


@pytest.mark.docker
def test_swarm_blue_green_switches_only_after_a_healthy_deploy(
    docker_client, in_process, swarm, run_id
):
    base = f"shop-{run_id}"
    _service(docker_client, f"{base}-blue", swarm["good1"], {"pipeline-runner.live": "true"})
    _service(docker_client, f"{base}-green", swarm["good1"], {"pipeline-runner.live": "false"})
    env = {
        "PLUGIN_SERVICE": base,
        "PLUGIN_STRATEGY": "blue-green",
        "PLUGIN_MONITOR": "3",
        "PLUGIN_SWITCH_LABELS": json.dumps(
            {"live": {"traefik.enable": "true"}, "idle": {"traefik.enable": "false"}}
        ),
    }

    result = _deploy(in_process, env, swarm["bad"])
    assert result.exit_code == 1
    blue = docker_client.services.get(f"{base}-blue").attrs["Spec"]["Labels"]
    assert blue["pipeline-runner.live"] == "true"  # the live colour was never touched

    result = _deploy(in_process, env, swarm["good2"])
    assert result.exit_code == 0, result.output
    green = docker_client.services.get(f"{base}-green").attrs["Spec"]
    blue = docker_client.services.get(f"{base}-blue").attrs["Spec"]
    assert green["Labels"]["pipeline-runner.live"] == "true"
    assert green["Labels"]["traefik.enable"] == "true"
    assert blue["Labels"]["pipeline-runner.live"] == "false"
    assert blue["Labels"]["traefik.enable"] == "false"
    assert _running_images(docker_client, f"{base}-green") == {swarm["good2"]}
    assert _running_images(docker_client, f"{base}-blue") == {swarm["good1"]}


def test_unreachable_webhook_fails_without_quoting_its_token(plugin_env, in_process):
    from runner.testing import free_port

    url = f"http://127.0.0.1:{free_port()}/deploy?token=tok-0123456789"
    env = dict(plugin_env, PLUGIN_URLS=url, PLUGIN_RETRIES="1", PLUGIN_RETRY_DELAY="0.01")
    code, out = in_process(deploy_plugin.main, env)
    assert code == 1
    last = out.strip().splitlines()[-1]
    assert last.startswith("error: POST http://127.0.0.1:") and "Connection refused" in last
    assert "(expected 2xx, 2 attempt(s))" in last
    assert "tok-0123456789" not in out
