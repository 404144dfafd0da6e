"""Trigger a deploy: call a webhook (signed, with retries and an expected status), or update a
Docker Swarm service to the new image with health-checked rollout and automatic rollback, a
blue/green switch or a canary release.

``mode`` picks one (default: ``swarm`` when ``service`` is set, else ``webhook``). With
``RUNNER_DEPLOY_REPORT`` set, the outcome is also written there as JSON (deploy_report).
See README.md.
"""

from __future__ import annotations

from typing import NamedTuple

import docker
from deploy_canary import MAX_CANARY_REPLICAS, CanaryRelease
from deploy_report import DeployFailed, DeployReport, write_report
from deploy_swarm import SwarmDeploy, SwarmDeployer
from plugin_kit import webhook
from plugin_kit.engine import engine_client
from plugin_kit.output import PluginError, run, say
from plugin_kit.settings import SettingError, Settings

# plugins/webhook's ``urls``, and ``webhook`` as the ready pipelines/ files write it.
WEBHOOK_URL_SETTINGS = ("urls", "url", "webhook", "webhook_url")
STRATEGIES = ("rolling", "blue-green", "canary")
CANARY_ACTIONS = ("start", "promote", "abort")


class CanarySettings(NamedTuple):
    action: str = "start"
    canary_replicas: int | None = None
    canary_percent: float | None = None
    auto_promote: bool = False


def read_canary(s: Settings, strategy: str) -> CanarySettings:
    """The canary settings (``action``, ``canary_replicas`` or ``canary_percent``,
    ``auto_promote``); any of them with another strategy is refused."""
    action = (s.get("action", default="start") or "start").lower()
    replicas = s.int("canary_replicas", default=0) if s.get("canary_replicas") else None
    percent_text = (s.get("canary_percent") or "").strip().rstrip("%")  # 25 or 25%
    try:
        percent = float(percent_text) if percent_text else None
    except ValueError:
        raise SettingError(
            f"setting 'canary_percent' must be a number, got {s.get('canary_percent')!r}"
        ) from None
    auto = s.bool("auto_promote")
    if strategy != "canary":
        given = [n for n in CanarySettings._fields if s.get(n)]
        if given:
            raise SettingError(f"setting '{given[0]}' is for strategy: canary, not {strategy}")
        return CanarySettings()
    if action not in CANARY_ACTIONS:
        raise SettingError(f"setting 'action' {action!r} is not start, promote or abort")
    if replicas is not None and percent is not None:
        raise SettingError("set 'canary_replicas' or 'canary_percent', not both")
    if replicas is not None and not 1 <= replicas <= MAX_CANARY_REPLICAS:
        raise SettingError(
            f"setting 'canary_replicas' must be 1 to {MAX_CANARY_REPLICAS}, got {replicas}"
        )
    if percent is not None and not 0 < percent < 100:
        raise SettingError(
            f"setting 'canary_percent' must be above 0 and below 100, got {percent:g}"
        )
    if auto and action != "start":
        raise SettingError(f"setting 'auto_promote' goes with action start, not {action}")
    return CanarySettings(action, replicas, percent, auto)


def read_swarm_deploy(s: Settings) -> SwarmDeploy:
    service = s.require("service", hint="the swarm service name (blue-green: its base name)")
    strategy = (s.get("strategy", default="rolling") or "rolling").lower().replace("_", "-")
    if strategy not in STRATEGIES:
        raise SettingError(f"setting 'strategy' {strategy!r} is not rolling, blue-green or canary")
    canary = read_canary(s, strategy)
    if canary.action != "start":
        image = s.get("image", default="")  # promote/abort: the canary's image
    else:
        hint = "e.g. image: registry.example.com/team/app:${DRONE_TAG##v}"
        image = s.require("image", hint=hint)
    order = s.get("update_order", "order", default="start-first")
    if order not in ("start-first", "stop-first"):
        raise SettingError(f"setting 'update_order' {order!r} is not start-first or stop-first")
    auth = {}
    username = s.get("username")
    if username:
        auth = {
            "username": username,
            "password": s.require_secret("password"),
            "server": s.get("registry", default="") or "",
        }
    switch = s.json("switch_labels", default={}) or {}
    if not isinstance(switch, dict):
        raise SettingError('setting \'switch_labels\' must be {"live": {...}, "idle": {...}}')
    return SwarmDeploy(
        service=service,
        image=image,
        strategy=strategy,
        parallelism=s.int("update_parallelism", "parallelism", default=1),
        delay=s.float("update_delay", default=0.0),
        monitor=s.float("monitor", "update_monitor", default=15.0),
        timeout=s.float("timeout", "deploy_timeout", default=300.0),
        order=order,
        rollback=s.bool("rollback", "auto_rollback", default=True),
        health_cmd=s.get("health_cmd", "healthcheck", default="") or "",
        health_interval=s.float("health_interval", default=2.0),
        health_retries=s.int("health_retries", default=3),
        registry_auth=auth,
        switch_labels={k: dict(v) for k, v in switch.items()},
        action=canary.action,
        canary_replicas=canary.canary_replicas,
        canary_percent=canary.canary_percent,
        auto_promote=canary.auto_promote,
    )


def mode_of(s: Settings) -> str:
    mode = (s.get("mode", "type") or "").lower()
    if not mode:
        return "swarm" if s.get("service") else "webhook"
    if mode not in ("webhook", "swarm"):
        raise SettingError(f"setting 'mode' {mode!r} is not webhook or swarm")
    return mode


def main(environ: dict[str, str] | None = None) -> int:
    s = Settings(environ)
    target = s.get("environment", "deploy_to") or s.build(
        "DRONE_DEPLOY_TO", "CI_PIPELINE_DEPLOY_TARGET", "CI_BUILD_TARGET"
    )
    if mode_of(s) == "webhook":
        body = webhook.default_body(s.environ)
        body["build"]["deploy_to"] = target
        if s.get("image"):
            body["image"] = s.get("image")
        hook = webhook.read_webhook(s, body=body, url_names=WEBHOOK_URL_SETTINGS)
        say(f"deploy{' to ' + target if target else ''}: calling {len(hook.urls)} webhook(s)")
        image = s.get("image", default="")
        try:
            webhook.send(hook, debug=s.bool("debug"))
        except PluginError as exc:
            write_report(DeployReport("failed", "webhook", 0, image, str(exc)), s.environ)
            raise
        message = f"the deploy webhook accepted {image or 'the build'}"
        write_report(DeployReport("live", "webhook", 100, image, message), s.environ)
        return 0
    plan = read_swarm_deploy(s)
    what = f"{plan.action} of " if plan.strategy == "canary" else ""
    say(f"deploy{' to ' + target if target else ''}: swarm {plan.strategy} {what}{plan.image}")
    try:
        deployer = SwarmDeployer(engine_client(s.environ), plan)
        if plan.strategy == "canary":
            report = CanaryRelease(deployer, lambda r: write_report(r, s.environ)).run()
        else:
            report = deployer.run()
    except DeployFailed as exc:
        write_report(exc.report, s.environ)
        raise
    except docker.errors.APIError as exc:
        error = f"swarm deploy failed: {exc.explanation or exc}"
        write_report(DeployReport("failed", plan.strategy, 0, plan.image, error), s.environ)
        raise PluginError(error) from None
    except PluginError as exc:
        write_report(DeployReport("failed", plan.strategy, 0, plan.image, str(exc)), s.environ)
        raise
    write_report(report, s.environ)
    return 0


if __name__ == "__main__":
    run(main)
