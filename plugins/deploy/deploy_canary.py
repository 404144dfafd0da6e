"""Grey (canary) release on Docker Swarm: the new version runs as ``<service>-canary`` next to the
live service, on the same networks under the live service's name as an alias, so the clients
that resolve that name reach both; then a later step promotes it (the live service is updated
to the canary's image, the canary removed) or aborts it (the canary removed, live untouched).

The share a client sees follows the endpoint mode. With ``dnsrr`` the alias resolves to every
task's address, shuffled, so the canary gets about its share of the replicas. With ``vip``
each service answers with one virtual address, so the canary gets about half of the new
connections whatever the replica counts.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import docker
from deploy_report import DeployFailed, DeployReport, share
from deploy_swarm import LIVE_LABEL, SwarmDeployer, replicas_of
from plugin_kit.output import PluginError, say

CANARY_OF = "pipeline-runner.canary-of"  # label of a canary service: the live service's name
FAILED = ("failed", "rejected")
# Task states in which a container may run (swarm's states before "complete"/"shutdown"/...).
ACTIVE = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running")
MAX_CANARY_REPLICAS = 1000


class CanaryRelease:
    """Runs the ``action`` of a canary step through a ``SwarmDeployer``; ``run`` returns the
    report of what runs now, or raises ``DeployFailed`` (the canary is then removed)."""

    def __init__(
        self,
        deployer: SwarmDeployer,
        on_started: Callable[[DeployReport], None] | None = None,
    ):
        self.deployer = deployer
        # Told as soon as the canary service exists: a step killed while it is watched (a
        # cancel, a timeout) leaves that said, so the deployment record shows what serves.
        self.on_started = on_started
        self.api = deployer.api
        self.plan = deployer.plan
        self.live_name = self.plan.service
        self.canary_name = f"{self.plan.service}-canary"

    def run(self) -> DeployReport:
        if self.plan.registry_auth and self.plan.action != "abort":
            self.deployer.login()
        if self.plan.action == "abort":
            return self.abort()
        if self.plan.action == "promote":
            return self.promote()
        report = self.start()
        return self.promote() if self.plan.auto_promote else report

    def canary_replicas(self, live_replicas: int) -> int:
        """The step's ``canary_replicas``, or the count that makes ``canary_percent`` of all
        replicas (25 % next to 3 live is 1), at least 1."""
        if self.plan.canary_replicas is not None:
            return self.plan.canary_replicas
        percent = self.plan.canary_percent
        if percent is None:
            return 1
        replicas = max(1, round(percent * live_replicas / (100 - percent)))
        if replicas > MAX_CANARY_REPLICAS:
            raise PluginError(
                f"canary_percent {percent:g} of {live_replicas} live replicas makes {replicas} "
                f"canary replicas, more than {MAX_CANARY_REPLICAS}: take a smaller percent"
            )
        return replicas

    def start(self) -> DeployReport:
        """Start (or replace) the canary and watch it. A canary that fails, or whatever error
        comes after its create, is removed before the step fails (``DeployFailed``)."""
        live = self.deployer.inspect(self.live_name)
        live_replicas = replicas_of(live)
        if live_replicas is None:
            raise PluginError(
                f"service {self.live_name} is global: a canary needs a replicated service"
            )
        replicas = self.canary_replicas(live_replicas)
        running = self.find(self.canary_name)
        if running:
            self.check_ours(running)
            say(f"replacing the running canary {self.canary_name}")
            self.remove_canary()
        spec = self.canary_spec(live, replicas)
        mode = spec.get("EndpointSpec", {}).get("Mode") or "vip"
        percent = share(replicas, live_replicas) if mode == "dnsrr" else 50
        say(
            f"canary: starting {self.canary_name} with {self.plan.image}, {replicas} replica(s) "
            f"next to {live_replicas} of {self.live_name} ({mode} endpoints: about {percent}% "
            f"of the requests to {self.live_name})"
        )
        if mode != "dnsrr":
            say(
                f"note: {self.live_name} uses vip endpoints, so the canary gets about half of "
                "the new connections whatever its replicas; set endpoint_mode dnsrr on the "
                "service for a share by replicas"
            )
        try:
            answer = self.api.create_service(
                spec["TaskTemplate"],
                name=spec["Name"],
                labels=spec["Labels"],
                mode=spec["Mode"],
                endpoint_spec=spec.get("EndpointSpec"),
            )
            for warning in (answer or {}).get("Warnings") or []:
                say(f"warning: {warning}")
            if self.on_started is not None:
                started = f"{self.canary_name} started with {self.plan.image}, not checked yet"
                self.on_started(DeployReport("canary", "canary", percent, self.plan.image, started))
            failure = self.watch(replicas)
        except Exception as exc:  # the canary may run (a timeout after the create): remove it
            failure = _reason(exc)
        except BaseException:
            self.discard()
            raise
        if failure:
            error = f"canary of {self.plan.image} failed ({failure}); "
            if self.discard():
                error += f"canary removed, {self.live_name} untouched"
                report = DeployReport("aborted", "canary", 0, self.plan.image, error)
            else:  # still serving: the deployment record must keep saying so
                error += f"canary {self.canary_name} NOT removed, {self.live_name} untouched"
                report = DeployReport("canary", "canary", percent, self.plan.image, error)
            raise DeployFailed(error, report)
        message = (
            f"{replicas} canary replica(s) of {self.plan.image} next to {live_replicas} live "
            f"({percent}%)"
        )
        say(f"canary: {message}, healthy for {self.plan.monitor:g}s")
        return DeployReport("canary", "canary", percent, self.plan.image, message)

    def canary_spec(self, live: dict[str, Any], replicas: int) -> dict[str, Any]:
        """The live service's spec with the new image, the replicas and the live name as a
        network alias; no published ports (they belong to the live service)."""
        spec: dict[str, Any] = copy.deepcopy(live["Spec"])
        spec["Name"] = self.canary_name
        labels = {k: v for k, v in (spec.get("Labels") or {}).items() if k != LIVE_LABEL}
        spec["Labels"] = {**labels, CANARY_OF: self.live_name}
        task = spec.setdefault("TaskTemplate", {})
        container = task.setdefault("ContainerSpec", {})
        container["Image"] = self.plan.image
        self.deployer.set_health_check(container)
        legacy = spec.pop("Networks", None)  # where API < 1.25 kept them
        networks = task.get("Networks") or legacy or []
        if not networks:
            raise PluginError(
                f"service {self.live_name} is on no network: a canary shares the live "
                "service's network alias, so attach the service to an overlay network first"
            )
        for network in networks:
            aliases = network.setdefault("Aliases", [])
            if self.live_name not in aliases:
                aliases.append(self.live_name)
        task["Networks"] = networks
        spec["Mode"] = {"Replicated": {"Replicas": replicas}}
        endpoint = spec.get("EndpointSpec") or {}
        spec["EndpointSpec"] = {"Mode": endpoint.get("Mode") or "vip"}
        return spec

    def watch(self, replicas: int) -> str:
        """Wait until ``replicas`` canary tasks run (healthy: swarm reports a task with a
        health check running only once it passes), then watch them for ``monitor`` seconds.
        The reason of a failure, or "" when the canary held."""
        deadline = time.monotonic() + self.plan.timeout
        healthy_since: float | None = None
        while True:
            tasks = self.api.tasks(filters={"service": self.canary_name}) or []
            for task in tasks:
                status = task.get("Status", {})
                if status.get("State") in FAILED:
                    detail = status.get("Err") or status.get("Message")
                    return f"task {status.get('State')}: {detail}"
            running = [t for t in tasks if t.get("Status", {}).get("State") == "running"]
            now = time.monotonic()
            if len(running) >= replicas:
                healthy_since = healthy_since if healthy_since is not None else now
                if now - healthy_since >= self.plan.monitor:
                    return ""
            else:
                healthy_since = None
            if now > deadline:
                return f"{len(running)} of {replicas} task(s) running after {self.plan.timeout:g}s"
            time.sleep(self.plan.poll)

    def promote(self) -> DeployReport:
        """Update the live service to the canary's image (rolling, health-checked), then
        remove the canary; when the update fails and is rolled back, the canary goes too."""
        canary = self.find(self.canary_name)
        if canary is None:
            raise PluginError(
                f"no canary service {self.canary_name} to promote: start one first "
                "(strategy: canary, action: start)"
            )
        self.check_ours(canary)  # before its image goes anywhere near the live service
        canary_image = canary["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
        if self.plan.image and self.plan.image != canary_image:
            raise PluginError(
                f"the canary {self.canary_name} runs {canary_image}, not {self.plan.image}: "
                "promote the image the canary runs, or start a canary of this one"
            )
        self.plan.image = canary_image
        say(f"canary: promoting {canary_image} to {self.live_name}")
        try:
            self.deployer.rolling(self.live_name)
        except DeployFailed as exc:
            self.remove_canary()
            error = f"{exc}; canary {self.canary_name} removed"
            report = DeployReport("rolled-back", "canary", 0, canary_image, error)
            raise DeployFailed(error, report) from None
        self.remove_canary()
        message = f"promoted: {self.live_name} runs {canary_image}, canary removed"
        say(message)
        return DeployReport("live", "canary", 100, canary_image, message)

    def abort(self) -> DeployReport:
        """Remove the canary; the live service is not touched. No canary is not an error."""
        canary = self.find(self.canary_name)
        if canary is None:
            message = f"no canary {self.canary_name} is running; {self.live_name} untouched"
            say(message)
            return DeployReport("aborted", "canary", 0, self.plan.image, message)
        self.check_ours(canary)
        image = canary["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
        self.remove_canary()
        message = (
            f"aborted: canary {self.canary_name} of {image} removed, {self.live_name} untouched"
        )
        say(message)
        return DeployReport("aborted", "canary", 0, image, message)

    def find(self, name: str) -> dict[str, Any] | None:
        try:
            service: dict[str, Any] = self.api.inspect_service(name)
        except docker.errors.NotFound:
            return None
        return service

    def check_ours(self, service: dict[str, Any]) -> None:
        """Refuse a service named ``<service>-canary`` that this plugin did not start as the
        live service's canary (no ``CANARY_OF`` label naming it): it is neither promoted,
        replaced nor removed."""
        if (service["Spec"].get("Labels") or {}).get(CANARY_OF) != self.live_name:
            raise PluginError(
                f"service {self.canary_name} is not a canary of {self.live_name} (no label "
                f"{CANARY_OF}={self.live_name}): not touching it or {self.live_name}; rename "
                "that service or remove it"
            )

    def discard(self) -> bool:
        """``remove_canary`` after a failure; False (and a warning) when it cannot be done."""
        try:
            self.remove_canary()
        except Exception as exc:
            say(f"warning: cannot remove the canary {self.canary_name}: {_reason(exc)}")
            return False
        return True

    def remove_canary(self) -> None:
        """Scale the canary to 0, wait (up to ``timeout``) until its tasks have stopped, then
        remove the service. Removing it at once would return while its containers still run
        and still answer on the alias; a stopped task has left the network."""
        canary = self.find(self.canary_name)
        if canary is None:
            return
        self.check_ours(canary)
        spec = copy.deepcopy(canary["Spec"])
        spec["Mode"] = {"Replicated": {"Replicas": 0}}
        self.deployer.update(canary, spec)
        deadline = time.monotonic() + self.plan.timeout
        while self.active_tasks(canary["ID"]):
            if time.monotonic() > deadline:
                waited = f"{self.plan.timeout:g}s"
                say(f"warning: tasks of {self.canary_name} still stopping after {waited}")
                break
            time.sleep(self.plan.poll)
        self.api.remove_service(canary["ID"])
        say(f"canary {self.canary_name} removed")

    def active_tasks(self, service_id: str) -> list[dict[str, Any]]:
        """Tasks of the service whose container may still run (not stopped, failed...)."""
        tasks = self.api.tasks(filters={"service": service_id}) or []
        return [t for t in tasks if t.get("Status", {}).get("State") in ACTIVE]


def _reason(exc: Exception) -> str:
    """What went wrong, in one line: the engine's explanation of an API error, else the error."""
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    return str(exc) or type(exc).__name__
