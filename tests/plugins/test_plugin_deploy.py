"""The deploy plugin calls a signed webhook with retries, and updates a real single-node
Docker Swarm service: health-checked rollout, automatic rollback, blue/green switch, a switch
back to a colour that already runs the image without updating it; and writes the deploy report
the runner reads (RUNNER_DEPLOY_REPORT). The canary strategy: test_plugin_deploy_canary.py.

The swarm deploys run the plugin's entry point in this process against the host socket (the
same code the image runs): a swarm rollout takes 10-20 s, and a plugin container living that
long is exposed to other test sessions that sweep labelled containers on the shared engine."""

from __future__ import annotations

import hashlib
import hmac
import json
from types import SimpleNamespace

import deploy_plugin
import docker
import pytest
from deploy_canary import CanaryRelease
from plugin_kit.settings import Settings

from tests.plugins.conftest import TEST_LABEL, PluginRun, running_images

SIGNING_SECRET = "whsec-deploy-0123456789"


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


def test_webhook_deploy_writes_the_report_only_when_asked(
    plugin_env, receiver, in_process, tmp_path
):
    env = dict(plugin_env, PLUGIN_URLS=f"{receiver.url}/deploy", PLUGIN_IMAGE="acme/app:1.2.3")
    code, out = in_process(deploy_plugin.main, env, cwd=tmp_path)
    assert code == 0, out
    assert list(tmp_path.iterdir()) == []  # no RUNNER_DEPLOY_REPORT, no file

    report = tmp_path / "reports" / "deploy.json"
    code, out = in_process(deploy_plugin.main, dict(env, RUNNER_DEPLOY_REPORT=str(report)))
    assert code == 0, out
    assert json.loads(report.read_text()) == {
        "state": "live",
        "strategy": "webhook",
        "traffic_share": 100,
        "image": "acme/app:1.2.3",
        "message": "the deploy webhook accepted acme/app:1.2.3",
    }


@pytest.mark.parametrize(
    "settings, error",
    [
        ({"PLUGIN_ACTION": "promote"}, "setting 'action' is for strategy: canary, not rolling"),
        (
            {"PLUGIN_STRATEGY": "canary", "PLUGIN_ACTION": "finish"},
            "setting 'action' 'finish' is not start, promote or abort",
        ),
        (
            {"PLUGIN_STRATEGY": "canary", "PLUGIN_CANARY_PERCENT": "100"},
            "setting 'canary_percent' must be above 0 and below 100, got 100",
        ),
        (
            {"PLUGIN_STRATEGY": "canary", "PLUGIN_CANARY_REPLICAS": "0"},
            "setting 'canary_replicas' must be 1 to 1000, got 0",
        ),
        (
            {
                "PLUGIN_STRATEGY": "canary",
                "PLUGIN_CANARY_REPLICAS": "1",
                "PLUGIN_CANARY_PERCENT": "20",
            },
            "set 'canary_replicas' or 'canary_percent', not both",
        ),
        (
            {"PLUGIN_STRATEGY": "canary", "PLUGIN_ACTION": "abort", "PLUGIN_AUTO_PROMOTE": "1"},
            "setting 'auto_promote' goes with action start, not abort",
        ),
    ],
)
def test_wrong_canary_settings_fail_before_any_call(plugin_env, in_process, settings, error):
    env = dict(plugin_env, PLUGIN_SERVICE="web", PLUGIN_IMAGE="app:2", **settings)
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"  # reached: a different error
    code, out = in_process(deploy_plugin.main, env)
    assert code == 1
    assert out.strip().splitlines()[-1] == f"error: {error}"


@pytest.mark.parametrize(
    "settings, live, canary",
    [
        ({"PLUGIN_CANARY_PERCENT": "25"}, 3, 1),
        ({"PLUGIN_CANARY_PERCENT": "25%"}, 3, 1),
        ({"PLUGIN_CANARY_PERCENT": "50"}, 2, 2),
        ({"PLUGIN_CANARY_PERCENT": "20"}, 8, 2),
        ({"PLUGIN_CANARY_PERCENT": "5"}, 3, 1),  # never fewer than one
        ({"PLUGIN_CANARY_REPLICAS": "3"}, 2, 3),
        ({}, 6, 1),
    ],
)
def test_canary_replicas_come_from_the_setting_or_the_percent_of_all(settings, live, canary):
    # Logic only (no engine); the real canary of 25 % beside 3 replicas runs in
    # test_plugin_deploy_canary.py.
    env = {"PLUGIN_SERVICE": "web", "PLUGIN_STRATEGY": "canary", "PLUGIN_IMAGE": "app:2"}
    plan = deploy_plugin.read_swarm_deploy(Settings({**env, **settings}))
    release = CanaryRelease(SimpleNamespace(api=None, plan=plan))
    assert release.canary_replicas(live) == canary


@pytest.mark.docker
def test_swarm_update_and_rollback_on_failed_health_check(
    docker_client, in_process, swarm, run_id, tmp_path
):
    name = f"web-{run_id}"
    _service(docker_client, name, swarm["good1"])
    report = tmp_path / "deploy" / "report.json"
    env = {
        "PLUGIN_SERVICE": name,
        "PLUGIN_MONITOR": "4",
        "PLUGIN_TIMEOUT": "120",
        "RUNNER_DEPLOY_REPORT": str(report),
    }

    result = _deploy(in_process, env, swarm["good2"])
    assert result.exit_code == 0, result.output
    assert running_images(docker_client, name) == {swarm["good2"]}
    assert json.loads(report.read_text()) == {
        "state": "live",
        "strategy": "rolling",
        "traffic_share": 100,
        "image": swarm["good2"],
        "message": f"service {name} runs {swarm['good2']}",
    }

    result = _deploy(in_process, env, swarm["bad"])
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert f"rolled back to {swarm['good2']}" in last and "unhealthy" in last
    written = json.loads(report.read_text())
    assert (written["state"], written["traffic_share"]) == ("rolled-back", 0)
    assert written["image"] == swarm["bad"] and last == f"error: {written['message']}"
    spec = docker_client.services.get(name).attrs["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == swarm["good2"]
    assert running_images(docker_client, name) == {swarm["good2"]}


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
    assert running_images(docker_client, f"{base}-green") == {swarm["good2"]}
    assert running_images(docker_client, f"{base}-blue") == {swarm["good1"]}


@pytest.mark.docker
def test_swarm_blue_green_switch_back_changes_labels_without_an_update(
    docker_client, in_process, swarm, run_id, tmp_path
):
    base = f"shop-{run_id}"
    _service(docker_client, f"{base}-blue", swarm["good2"], {"pipeline-runner.live": "true"})
    _service(docker_client, f"{base}-green", swarm["good1"], {"pipeline-runner.live": "false"})
    assert running_images(docker_client, f"{base}-green") == {swarm["good1"]}
    green = docker_client.services.get(f"{base}-green")
    tasks_before = {t["ID"] for t in green.tasks(filters={"desired-state": "running"})}
    template_before = green.attrs["Spec"]["TaskTemplate"]
    report = tmp_path / "report.json"
    env = {
        "PLUGIN_SERVICE": base,
        "PLUGIN_STRATEGY": "blue-green",
        "PLUGIN_MONITOR": "3",
        "RUNNER_DEPLOY_REPORT": str(report),
    }

    result = _deploy(in_process, env, swarm["good1"])  # back to the version green still runs

    assert result.exit_code == 0, result.output
    assert f"{base}-green already runs {swarm['good1']}" in result.output
    assert "switching back without an update" in result.output
    assert f"updating service {base}-green" not in result.output
    green.reload()
    blue = docker_client.services.get(f"{base}-blue").attrs["Spec"]
    assert green.attrs["Spec"]["Labels"]["pipeline-runner.live"] == "true"
    assert blue["Labels"]["pipeline-runner.live"] == "false"
    # Only the labels changed: the same task template (no forced update), the same tasks.
    assert green.attrs["Spec"]["TaskTemplate"] == template_before
    assert {t["ID"] for t in green.tasks(filters={"desired-state": "running"})} == tasks_before
    assert running_images(docker_client, f"{base}-blue") == {swarm["good2"]}
    written = json.loads(report.read_text())
    assert (written["state"], written["strategy"]) == ("live", "blue-green")
    assert written["message"].startswith(f"switched back: {base}-green is live")


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
