"""Docker Swarm deploys through the Docker SDK: a rolling service update to a new image with
health-checked rollout and automatic rollback, or a blue/green switch between two services.
The canary strategy (deploy_canary) builds on the calls of ``SwarmDeployer``."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import docker
import requests
from deploy_report import DeployFailed, DeployReport
from plugin_kit.output import PluginError, say

NS = 1_000_000_000
LIVE_LABEL = "pipeline-runner.live"
ROLLED_BACK = ("rollback_started", "rollback_paused", "rollback_completed")


@dataclass
class SwarmDeploy:
    """One deploy, from the settings (see ``read_swarm_deploy`` in deploy_plugin)."""

    service: str
    image: str  # canary promote/abort: empty means the canary's image
    strategy: str = "rolling"  # rolling, blue-green or canary
    parallelism: int = 1
    delay: float = 0.0
    monitor: float = 15.0
    timeout: float = 300.0
    order: str = "start-first"
    rollback: bool = True
    health_cmd: str = ""
    health_interval: float = 2.0
    health_retries: int = 3
    registry_auth: dict[str, str] = field(default_factory=dict)
    switch_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # live/idle labels
    action: str = "start"  # canary: start, promote or abort
    canary_replicas: int | None = None  # canary: replicas of the canary service...
    canary_percent: float | None = None  # ...or the percent of all replicas it should be
    auto_promote: bool = False  # canary: start, check and promote in one step
    poll: float = 1.0


class SwarmDeployer:
    """Drives one deploy on the engine; ``run`` returns when it is done or raises ``PluginError``
    (after a rollback, the message says so and names the image that runs again)."""

    def __init__(self, engine: docker.DockerClient, plan: SwarmDeploy):
        self.api = engine.api
        self.plan = plan

    def run(self) -> DeployReport:
        """Deploy by the rolling or blue-green strategy; the report of what runs now."""
        if self.plan.registry_auth:
            self.login()
        if self.plan.strategy == "blue-green":
            message = self.blue_green()
        else:
            self.rolling(self.plan.service)
            message = f"service {self.plan.service} runs {self.plan.image}"
        return DeployReport("live", self.plan.strategy, 100, self.plan.image, message)

    def login(self) -> None:
        """Give the engine the registry login, which it passes to the nodes with the update."""
        auth = self.plan.registry_auth
        # The login is for the registry the image comes from, unless 'registry' says otherwise.
        server = auth.get("server") or docker.auth.resolve_repository_name(self.plan.image)[0]
        try:
            self.api.login(auth["username"], auth["password"], registry=server, reauth=True)
        except docker.errors.APIError as exc:
            raise PluginError(
                f"login to registry {server} as '{auth['username']}' failed: "
                f"{exc.explanation or exc} (check the 'username' and 'password' settings)"
            ) from None

    def inspect(self, name: str) -> dict[str, Any]:
        try:
            service: dict[str, Any] = self.api.inspect_service(name)
        except docker.errors.NotFound:
            raise PluginError(
                f"service {name!r} not found in the swarm: create it first or fix 'service'"
            ) from None
        except docker.errors.APIError as exc:
            if exc.status_code == 503:
                reason = exc.explanation or exc
                raise PluginError(f"the engine is not a swarm manager: {reason}") from None
            raise
        return service

    def update(self, service: dict[str, Any], spec: dict[str, Any]) -> None:
        """Send ``spec`` whole as the service's new spec (the SDK adds the registry login)."""
        answer = self.api.update_service(
            service["ID"],
            service["Version"]["Index"],
            task_template=spec.get("TaskTemplate"),
            name=spec.get("Name"),
            labels=spec.get("Labels"),
            mode=spec.get("Mode"),
            update_config=spec.get("UpdateConfig"),
            rollback_config=spec.get("RollbackConfig"),
            networks=spec.get("Networks"),
            endpoint_spec=spec.get("EndpointSpec"),
        )
        for warning in (answer or {}).get("Warnings") or []:
            say(f"warning: {warning}")

    def roll_back(self, service: dict[str, Any]) -> None:
        """Ask swarm to return to the previous spec, as ``docker service rollback`` does.

        The SDK has no call for it: this is its own session posting the engine's
        ``rollback=previous`` update, so swarm reports the ``rollback_*`` states.
        """
        url = f"{self.api.base_url}/v{self.api.api_version}/services/{service['ID']}/update"
        params = {"version": str(service["Version"]["Index"]), "rollback": "previous"}
        resp = self.api.post(url, params=params, json=service["Spec"], timeout=self.api.timeout)
        try:
            resp.raise_for_status()
        except requests.HTTPError as exc:
            raise docker.errors.create_api_error_from_http_exception(exc) from None

    def set_health_check(self, container: dict[str, Any]) -> None:
        """Put the step's ``health_cmd`` on a container spec (else the image's own stays)."""
        p = self.plan
        if p.health_cmd:
            container["Healthcheck"] = {
                "Test": ["CMD-SHELL", p.health_cmd],
                "Interval": int(p.health_interval * NS),
                "Timeout": int(max(p.health_interval, 1) * NS),
                "Retries": p.health_retries,
            }

    def new_spec(self, service: dict[str, Any], replicas: int | None = None) -> dict[str, Any]:
        p = self.plan
        spec: dict[str, Any] = copy.deepcopy(service["Spec"])
        task = spec.setdefault("TaskTemplate", {})
        container = task.setdefault("ContainerSpec", {})
        container["Image"] = p.image
        task["ForceUpdate"] = int(task.get("ForceUpdate", 0)) + 1
        self.set_health_check(container)
        spec["UpdateConfig"] = {
            "Parallelism": p.parallelism,
            "Delay": int(p.delay * NS),
            "FailureAction": "rollback" if p.rollback else "pause",
            "Monitor": int(p.monitor * NS),
            "MaxFailureRatio": 0,
            "Order": p.order,
        }
        spec["RollbackConfig"] = {
            "Parallelism": 0,
            "FailureAction": "pause",
            "Monitor": int(p.monitor * NS),
            "Order": p.order,
        }
        if replicas is not None and "Replicated" in spec.get("Mode", {}):
            spec["Mode"]["Replicated"]["Replicas"] = replicas
        return spec

    def rolling(self, name: str, replicas: int | None = None) -> None:
        """Update ``name`` to the image and wait; on failure swarm (or we) roll back, then raise
        ``DeployFailed`` (state ``rolled-back``, or ``failed`` when the update is paused)."""
        service = self.inspect(name)
        old_image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        say(f"updating service {name}: {old_image} -> {self.plan.image}")
        self.update(service, self.new_spec(service, replicas))
        state, message = self.wait(name)
        if state == "completed" and self.converged(name):
            say(f"service {name} runs {self.plan.image} on all its tasks")
            return
        if state not in ROLLED_BACK and self.plan.rollback:
            say(f"update of {name} did not finish ({state}: {message}); rolling back")
            self.roll_back(self.inspect(name))
            state, _ = self.wait(name)
        reason = self.failure_reason(name) or message or state
        if state in ROLLED_BACK or self.plan.rollback:
            error = (
                f"deploy of {self.plan.image} to service {name} failed ({reason}); "
                f"rolled back to {old_image}"
            )
            raise DeployFailed(error, self.failed_report("rolled-back", error))
        error = (
            f"deploy of {self.plan.image} to service {name} failed ({reason}); "
            "the update is paused (rollback is off): fix and deploy again"
        )
        raise DeployFailed(error, self.failed_report("failed", error))

    def failed_report(self, state: str, message: str) -> DeployReport:
        return DeployReport(state, self.plan.strategy, 0, self.plan.image, message)

    def failure_reason(self, name: str) -> str:
        """The error of a failed task of the new image (``unhealthy container``...), if any."""
        for task in self.api.tasks(filters={"service": name}) or []:
            image = task["Spec"]["ContainerSpec"]["Image"].split("@")[0]
            status = task.get("Status", {})
            if image == self.plan.image and status.get("State") in ("failed", "rejected"):
                return f"task {status.get('State')}: {status.get('Err') or status.get('Message')}"
        return ""

    def wait(self, name: str) -> tuple[str, str]:
        """Poll the update status until it settles; ``(state, message)``."""
        deadline = time.monotonic() + self.plan.timeout
        last = ""
        settled = ("completed", "paused", "rollback_completed", "rollback_paused")
        while True:
            status = self.inspect(name).get("UpdateStatus") or {}
            state = status.get("State", "")
            message = status.get("Message", "")
            if state != last:
                say(f"service {name}: {state or 'pending'} {message}".rstrip())
                last = state
            if state in settled:
                return state, message
            if time.monotonic() > deadline:
                return "timeout", f"not done after {self.plan.timeout:g}s"
            time.sleep(self.plan.poll)

    def converged(self, name: str) -> bool:
        """Whether every task meant to run, runs (and is healthy) on the new image."""
        tasks = self.api.tasks(filters={"service": name, "desired-state": "running"}) or []
        if not tasks:
            return False
        for task in tasks:
            image = task["Spec"]["ContainerSpec"]["Image"]
            if task["Status"]["State"] != "running" or image.split("@")[0] != self.plan.image:
                return False
        return True

    def blue_green(self) -> str:
        """Deploy to the idle one of ``<service>-blue``/``<service>-green``, then switch labels;
        the line that says what was done.

        The live service carries ``pipeline-runner.live=true``. The idle service gets the image
        and the live one's replica count; only when all its tasks are healthy are the labels
        (and ``switch_labels``) swapped, which is what the router follows. The old colour stays
        up for an instant switch back: when the idle service already runs the image on all its
        tasks, healthy, with the live replica count, only the labels change (no update, the
        tasks keep running). A failed idle deploy leaves the live service untouched.
        """
        base = self.plan.service
        services = {c: self.inspect(f"{base}-{c}") for c in ("blue", "green")}
        live = [
            c for c, s in services.items() if s["Spec"].get("Labels", {}).get(LIVE_LABEL) == "true"
        ]
        live_color = live[0] if live else "green"
        idle_color = "blue" if live_color == "green" else "green"
        idle = f"{base}-{idle_color}"
        replicas = replicas_of(services[live_color]) or 1
        if self.runs_already(services[idle_color], replicas):
            say(
                f"blue/green: {base}-{live_color} is live; {idle} already runs {self.plan.image} "
                "on all its tasks: switching back without an update"
            )
            action = "switched back"
        else:
            say(f"blue/green: {base}-{live_color} is live, deploying to {idle}")
            self.rolling(idle, replicas=replicas)
            action = "switched"
        self.set_live(idle, True)
        self.set_live(f"{base}-{live_color}", False)
        say(f"{action}: {idle} is live with {self.plan.image}")
        return f"{action}: {idle} is live with {self.plan.image} ({base}-{live_color} idle)"

    def runs_already(self, service: dict[str, Any], replicas: int) -> bool:
        """Whether ``service`` is set to the image with ``replicas`` and every task runs it."""
        image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
        if image != self.plan.image or replicas_of(service) != replicas:
            return False
        tasks = self.api.tasks(filters={"service": service["ID"], "desired-state": "running"})
        return len(tasks or []) == replicas and self.converged(service["Spec"]["Name"])

    def set_live(self, name: str, live: bool) -> None:
        service = self.inspect(name)
        spec = service["Spec"]
        labels = spec.setdefault("Labels", {})
        labels[LIVE_LABEL] = "true" if live else "false"
        labels.update(self.plan.switch_labels.get("live" if live else "idle", {}))
        self.update(service, spec)


def replicas_of(service: dict[str, Any]) -> int | None:
    """The replica count of a replicated service (None for a global one)."""
    replicated = service["Spec"].get("Mode", {}).get("Replicated")
    return int(replicated.get("Replicas") or 0) if replicated is not None else None
