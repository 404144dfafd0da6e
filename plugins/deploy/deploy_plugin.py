"""Trigger a deploy: call a webhook (signed, with retries and an expected status), or update a
Docker Swarm service to the new image with health-checked rollout and automatic rollback.

``mode`` picks one (default: ``swarm`` when ``service`` is set, else ``webhook``). See README.md.
"""

from __future__ import annotations

import docker
from deploy_swarm import SwarmDeploy, SwarmDeployer
from plugin_kit import webhook
from plugin_kit.engine import engine_client
from plugin_kit.output import PluginError, run, say
from plugin_kit.settings import SettingError, Settings

# plugins/webhook's ``urls``, and ``webhook`` as the ready pipelines/ files write it.
WEBHOOK_URL_SETTINGS = ("urls", "url", "webhook", "webhook_url")


def read_swarm_deploy(s: Settings) -> SwarmDeploy:
    service = s.require("service", hint="the swarm service name (blue-green: its base name)")
    image = s.require("image", hint="e.g. image: registry.example.com/team/app:${DRONE_TAG##v}")
    strategy = (s.get("strategy", default="rolling") or "rolling").lower().replace("_", "-")
    if strategy not in ("rolling", "blue-green"):
        raise SettingError(f"setting 'strategy' {strategy!r} is not rolling or blue-green")
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
        webhook.send(hook, debug=s.bool("debug"))
        return 0
    plan = read_swarm_deploy(s)
    say(f"deploy{' to ' + target if target else ''}: swarm {plan.strategy} of {plan.image}")
    try:
        SwarmDeployer(engine_client(s.environ), plan).run()
    except docker.errors.APIError as exc:
        raise PluginError(f"swarm deploy failed: {exc.explanation or exc}") from None
    return 0


if __name__ == "__main__":
    run(main)
