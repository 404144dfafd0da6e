"""The deploy plugin's canary strategy against a fake Docker API (the calls only, no swarm): a
service named ``<service>-canary`` that does not carry the canary label naming the live service
is refused before anything is changed, by promote (the live service keeps its image), start and
abort; and once the canary is created, any error after it (the engine failing while it is
watched, a create that times out after the service was made) removes the canary before the step
fails, with a report saying so. The real swarm runs are test_plugin_deploy_canary.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import deploy_plugin
import docker
import pytest
import requests
from deploy_canary import CANARY_OF

LIVE = "web"
CANARY = "web-canary"


def service(name: str, image: str, labels: dict[str, str], replicas: int) -> dict:
    return {
        "ID": f"id-{name}",
        "Version": {"Index": 1},
        "Spec": {
            "Name": name,
            "Labels": labels,
            "TaskTemplate": {
                "ContainerSpec": {"Image": image},
                "Networks": [{"Target": "net-1"}],
            },
            "Mode": {"Replicated": {"Replicas": replicas}},
            "EndpointSpec": {"Mode": "dnsrr"},
        },
    }


class FakeSwarmApi:
    """The calls of the canary strategy on a dict of services; every change is in ``changes``.
    ``create_error`` is raised by create_service after the service is made; ``watch_error`` by
    the watch's first look at the canary's tasks."""

    def __init__(self, services: list[dict]):
        self.services = {s["Spec"]["Name"]: s for s in services}
        self.changes: list[tuple[str, str]] = []
        self.create_error: Exception | None = None
        self.watch_error: Exception | None = None

    def inspect_service(self, name):
        if name not in self.services:
            raise docker.errors.NotFound(f"service {name} not found")
        return self.services[name]

    def _by_id(self, service_id):
        return next(s for s in self.services.values() if s["ID"] == service_id)

    def create_service(self, task_template, name, labels, mode, endpoint_spec=None):
        self.changes.append(("create", name))
        made = service(name, task_template["ContainerSpec"]["Image"], labels, 1)
        self.services[name] = made
        if self.create_error:
            raise self.create_error
        return {"ID": made["ID"]}

    def update_service(self, service_id, version, **spec):
        target = self._by_id(service_id)
        self.changes.append(("update", target["Spec"]["Name"]))
        return {}

    def remove_service(self, service_id):
        target = self._by_id(service_id)
        self.changes.append(("remove", target["Spec"]["Name"]))
        del self.services[target["Spec"]["Name"]]

    def tasks(self, filters):
        if filters["service"] == CANARY and self.watch_error:
            raise self.watch_error
        return []


@pytest.fixture
def swarm_api(monkeypatch):
    """The fake API behind the plugin's engine client; the live service runs app:1."""
    api = FakeSwarmApi([service(LIVE, "app:1", {}, 3)])

    client = SimpleNamespace(api=api)
    monkeypatch.setattr(deploy_plugin, "engine_client", lambda environ=None: client)
    return api


def canary_env(tmp_path, **settings: str) -> dict[str, str]:
    return {
        "PLUGIN_SERVICE": LIVE,
        "PLUGIN_STRATEGY": "canary",
        "PLUGIN_MONITOR": "0",
        "PLUGIN_TIMEOUT": "5",
        "RUNNER_DEPLOY_REPORT": str(tmp_path / "deploy.json"),
        **settings,
    }


@pytest.mark.parametrize(
    "settings",
    [
        {"PLUGIN_ACTION": "promote"},
        {"PLUGIN_ACTION": "start", "PLUGIN_IMAGE": "app:2"},
        {"PLUGIN_ACTION": "abort"},
    ],
    ids=["promote", "start", "abort"],
)
def test_a_service_named_like_the_canary_without_its_label_is_not_touched(
    swarm_api, in_process, tmp_path, settings
):
    swarm_api.services[CANARY] = service(CANARY, "evil:1", {"team": "other"}, 1)
    code, out = in_process(deploy_plugin.main, canary_env(tmp_path, **settings))
    assert code == 1, out
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"error: service {CANARY} is not a canary of {LIVE} (no label "), last
    assert f"{CANARY_OF}={LIVE}" in last
    assert swarm_api.changes == [], "nothing changed, the live service least of all"
    assert "evil:1" not in out.replace(last, "")


def test_a_labelled_canary_is_still_promoted(swarm_api, in_process, tmp_path, monkeypatch):
    swarm_api.services[CANARY] = service(CANARY, "app:2", {CANARY_OF: LIVE}, 1)
    rolled = []
    monkeypatch.setattr(deploy_plugin.SwarmDeployer, "rolling", lambda _, name: rolled.append(name))
    code, out = in_process(deploy_plugin.main, canary_env(tmp_path, PLUGIN_ACTION="promote"))
    assert code == 0, out
    assert rolled == [LIVE]
    assert ("remove", CANARY) in swarm_api.changes


@pytest.mark.parametrize(
    "where, error",
    [
        ("watch", docker.errors.APIError("500 Server Error", explanation="engine overloaded")),
        ("create", requests.exceptions.ReadTimeout("read timed out")),
    ],
    ids=["api-error-while-watching", "timeout-after-create"],
)
def test_an_error_after_the_canary_is_created_removes_it_before_the_step_fails(
    swarm_api, in_process, tmp_path, where, error
):
    setattr(swarm_api, f"{where}_error", error)
    env = canary_env(tmp_path, PLUGIN_IMAGE="app:2", PLUGIN_CANARY_REPLICAS="1")
    code, out = in_process(deploy_plugin.main, env)
    assert code == 1, out
    assert swarm_api.changes == [("create", CANARY), ("update", CANARY), ("remove", CANARY)]
    assert CANARY not in swarm_api.services
    last = out.strip().splitlines()[-1]
    reason = "engine overloaded" if where == "watch" else "read timed out"
    assert last == f"error: canary of app:2 failed ({reason}); canary removed, {LIVE} untouched"
    written = json.loads((tmp_path / "deploy.json").read_text())
    assert (written["state"], written["traffic_share"]) == ("aborted", 0)


def test_a_canary_that_cannot_be_removed_is_reported_as_still_running(
    swarm_api, in_process, tmp_path
):
    swarm_api.watch_error = docker.errors.APIError("500", explanation="engine overloaded")

    def refuse(service_id):
        raise docker.errors.APIError("500", explanation="removal refused")

    swarm_api.remove_service = refuse  # the engine refuses the removal too
    env = canary_env(tmp_path, PLUGIN_IMAGE="app:2", PLUGIN_CANARY_REPLICAS="1")
    code, out = in_process(deploy_plugin.main, env)
    assert code == 1, out
    assert f"warning: cannot remove the canary {CANARY}: removal refused" in out
    assert f"canary {CANARY} NOT removed, {LIVE} untouched" in out.strip().splitlines()[-1]
    written = json.loads((tmp_path / "deploy.json").read_text())
    assert (written["state"], written["traffic_share"]) == ("canary", 25)


def test_while_the_canary_is_watched_the_report_says_it_runs(swarm_api, in_process, tmp_path):
    # A step killed during the watch (a cancel, its timeout) never reaches its own report: the
    # one written when the canary was created is what the agent reads then.
    report = tmp_path / "deploy.json"
    seen: list[dict] = []

    def tasks(filters):
        if seen:  # the removal's look at the tasks: none left
            return []
        seen.append(json.loads(report.read_text()))
        raise docker.errors.APIError("500", explanation="engine overloaded")

    swarm_api.tasks = tasks
    env = canary_env(tmp_path, PLUGIN_IMAGE="app:2", PLUGIN_CANARY_REPLICAS="1")
    code, out = in_process(deploy_plugin.main, env)
    assert code == 1, out
    assert (seen[0]["state"], seen[0]["traffic_share"], seen[0]["image"]) == ("canary", 25, "app:2")
    assert json.loads(report.read_text())["state"] == "aborted"  # then removed, and said so
