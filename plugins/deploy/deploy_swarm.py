"""Docker Swarm deploys through the Engine API: a rolling service update to a new image with
health-checked rollout and automatic rollback, or a blue/green switch between two services."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from plugin_kit.engine_api import EngineAPIError, EngineClient, registry_auth_header
from plugin_kit.output import PluginError, say

NS = 1_000_000_000
LIVE_LABEL = "pipeline-runner.live"
ROLLED_BACK = ("rollback_started", "rollback_paused", "rollback_completed")


@dataclass
class SwarmDeploy:
    """One deploy, from the settings (see ``read_swarm_deploy`` in deploy_plugin)."""

    service: str
    image: str
    strategy: str = "rolling"  # rolling or blue-green
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
    poll: float = 1.0


class SwarmDeployer:
    """Drives one deploy on the engine; ``run`` returns when it is done or raises ``PluginError``
    (after a rollback, the message says so and names the image that runs again)."""

    def __init__(self, engine: EngineClient, plan: SwarmDeploy):
        self.engine = engine
        self.plan = plan

    def run(self) -> None:
        if self.plan.strategy == "blue-green":
            self.blue_green()
        else:
            self.rolling(self.plan.service)

    def inspect(self, name: str) -> dict:
        try:
            return self.engine.call("GET", f"/services/{name}")
        except EngineAPIError as exc:
            if exc.status == 404:
                raise PluginError(
                    f"service {name!r} not found in the swarm: create it first or fix 'service'"
                ) from None
            if exc.status == 503:
                raise PluginError(f"the engine is not a swarm manager: {exc}") from None
            raise

    def update(self, service: dict, spec: dict, rollback: bool = False) -> None:
        headers = {}
        if self.plan.registry_auth:
            headers["X-Registry-Auth"] = registry_auth_header(**self.plan.registry_auth)
        query = {"version": str(service["Version"]["Index"])}
        if rollback:
            query["rollback"] = "previous"
        answer = self.engine.call(
            "POST", f"/services/{service['ID']}/update", query=query, body=spec, headers=headers
        )
        for warning in (answer or {}).get("Warnings") or []:
            say(f"warning: {warning}")

    def new_spec(self, service: dict, replicas: int | None = None) -> dict:
        p = self.plan
        spec = json.loads(json.dumps(service["Spec"]))
        task = spec.setdefault("TaskTemplate", {})
        container = task.setdefault("ContainerSpec", {})
        container["Image"] = p.image
        task["ForceUpdate"] = int(task.get("ForceUpdate", 0)) + 1
        if p.health_cmd:
            container["Healthcheck"] = {
                "Test": ["CMD-SHELL", p.health_cmd],
                "Interval": int(p.health_interval * NS),
                "Timeout": int(max(p.health_interval, 1) * NS),
                "Retries": p.health_retries,
            }
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
        """Update ``name`` to the image and wait; on failure swarm (or we) roll back, then raise."""
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
            current = self.inspect(name)
            self.update(current, current["Spec"], rollback=True)
            state, _ = self.wait(name)
        reason = self.failure_reason(name) or message or state
        if state in ROLLED_BACK or self.plan.rollback:
            raise PluginError(
                f"deploy of {self.plan.image} to service {name} failed ({reason}); "
                f"rolled back to {old_image}"
            )
        raise PluginError(
            f"deploy of {self.plan.image} to service {name} failed ({reason}); "
            "the update is paused (rollback is off): fix and deploy again"
        )

    def failure_reason(self, name: str) -> str:
        """The error of a failed task of the new image (``unhealthy container``...), if any."""
        filters = json.dumps({"service": [name]})
        for task in self.engine.call("GET", "/tasks", query={"filters": filters}) or []:
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
        filters = json.dumps({"service": [name], "desired-state": ["running"]})
        tasks = self.engine.call("GET", "/tasks", query={"filters": filters}) or []
        if not tasks:
            return False
        for task in tasks:
            image = task["Spec"]["ContainerSpec"]["Image"]
            if task["Status"]["State"] != "running" or image.split("@")[0] != self.plan.image:
                return False
        return True

    def blue_green(self) -> None:
        """Deploy to the idle one of ``<service>-blue``/``<service>-green``, then switch labels.

        The live service carries ``pipeline-runner.live=true``. The idle service gets the image
        and the live one's replica count; only when all its tasks are healthy are the labels
        (and ``switch_labels``) swapped, which is what the router follows. The old colour stays
        up for an instant switch back. A failed idle deploy leaves the live service untouched.
        """
        base = self.plan.service
        services = {c: self.inspect(f"{base}-{c}") for c in ("blue", "green")}
        live = [
            c for c, s in services.items() if s["Spec"].get("Labels", {}).get(LIVE_LABEL) == "true"
        ]
        live_color = live[0] if live else "green"
        idle_color = "blue" if live_color == "green" else "green"
        live_spec = services[live_color]["Spec"]
        replicas = live_spec.get("Mode", {}).get("Replicated", {}).get("Replicas") or 1
        say(f"blue/green: {base}-{live_color} is live, deploying to {base}-{idle_color}")
        self.rolling(f"{base}-{idle_color}", replicas=replicas)
        self.set_live(f"{base}-{idle_color}", True)
        self.set_live(f"{base}-{live_color}", False)
        say(f"switched: {base}-{idle_color} is live with {self.plan.image}")

    def set_live(self, name: str, live: bool) -> None:
        service = self.inspect(name)
        spec = service["Spec"]
        labels = spec.setdefault("Labels", {})
        labels[LIVE_LABEL] = "true" if live else "false"
        labels.update(self.plan.switch_labels.get("live" if live else "idle", {}))
        self.update(service, spec)
