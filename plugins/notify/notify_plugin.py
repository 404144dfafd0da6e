"""Send the build result to a generic webhook, a DingTalk robot and/or a Slack channel.

Targets are chosen by the settings present (or listed in ``targets``): ``urls`` for a webhook
(plugins/webhook settings), ``access_token``/``token`` for DingTalk (drone-dingtalk settings),
``webhook`` for Slack (plugins/slack settings). One ``template`` renders the message for all.
See README.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any

from plugin_kit import webhook
from plugin_kit.build import build_vars, render
from plugin_kit.output import PluginError, run, say
from plugin_kit.settings import SettingError, Settings

DINGTALK_URL = "https://oapi.dingtalk.com/robot/send"
GOOD = {"success"}
DEFAULT_TEMPLATE = (
    "{{ status_word }}: {{ repo.full_name }} #{{ build.number }} "
    "({{ build.event }} {{ ref_name }}) by {{ build.author }}\n"
    "{{ commit.title }}\n{{ build.link }}"
)
TARGETS = ("webhook", "dingtalk", "slack")


def message_vars(environ: dict[str, str]) -> dict[str, str]:
    v = build_vars(environ)
    status = v["build.status"]
    v["status_word"] = {
        "success": "Build succeeded",
        "failure": "Build failed",
        "error": "Build errored",
        "killed": "Build cancelled",
    }.get(status, f"Build {status}")
    v["ref_name"] = v["build.tag"] or v["build.branch"]
    v["commit.title"] = v["build.message"].splitlines()[0] if v["build.message"] else ""
    return v


def message(s: Settings) -> tuple[str, dict[str, str]]:
    variables = message_vars(s.environ)
    template = s.get("template", "message", "tpl") or DEFAULT_TEMPLATE
    return render(template, variables, s.environ).strip(), variables


def chosen_targets(s: Settings) -> list[str]:
    listed = s.list("targets", "target", "provider")
    for name in listed:
        if name not in TARGETS:
            raise SettingError(f"setting 'targets': {name!r} is not one of {', '.join(TARGETS)}")
    if listed:
        return listed
    found = []
    if s.get("urls", "url"):
        found.append("webhook")
    if s.get("access_token", "token", "dingtalk_token"):
        found.append("dingtalk")
    if s.get("webhook", "slack_webhook"):
        found.append("slack")
    if not found:
        raise SettingError(
            "missing required setting 'urls' (webhook), 'access_token' (DingTalk) or 'webhook' "
            "(Slack): add at least one under settings: of the step"
        )
    return found


def dingtalk_payload(s: Settings, text: str, variables: dict[str, str]) -> dict[str, Any]:
    kind = (s.get("msg_type", "type", default="markdown") or "markdown").lower()
    title = render(
        s.get("title", default="{{ repo.full_name }} #{{ build.number }} {{ build.status }}"),
        variables,
        s.environ,
    )
    at = {"atMobiles": s.list("at_mobiles", "at_mobile"), "isAtAll": s.bool("at_all")}
    if kind == "text":
        return {"msgtype": "text", "text": {"content": text}, "at": at}
    if kind == "link":
        return {
            "msgtype": "link",
            "link": {
                "title": title,
                "text": text,
                "messageUrl": variables["build.link"],
                "picUrl": s.get("message_pic", "pic_url", default="") or "",
            },
        }
    if kind != "markdown":
        raise SettingError(f"setting 'msg_type' {kind!r} is not one of text, markdown, link")
    body = "\n\n".join(line for line in text.splitlines() if line.strip())
    return {"msgtype": "markdown", "markdown": {"title": title, "text": body}, "at": at}


def dingtalk_url(s: Settings) -> str:
    """The robot URL with its token and, when a ``secret`` is set, the signed timestamp."""
    token = s.require_secret("access_token", "token", "dingtalk_token")
    query = {"access_token": token}
    secret = s.secret("secret", "dingtalk_secret")
    if secret:
        stamp = str(int(time.time() * 1000))
        digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
        query["timestamp"] = stamp
        query["sign"] = base64.b64encode(digest).decode()
    base = s.get("dingtalk_url", "api_url", default=DINGTALK_URL)
    return f"{base}?{urllib.parse.urlencode(query)}"


def slack_payload(s: Settings, text: str, variables: dict[str, str]) -> dict[str, Any]:
    status = variables["build.status"]
    color = s.get("color", default="good" if status in GOOD else "danger")
    payload: dict[str, Any] = {
        "text": text.splitlines()[0] if text else "",
        "attachments": [{"fallback": text, "text": text, "color": color, "mrkdwn_in": ["text"]}],
    }
    recipient = s.get("recipient")
    channel = f"@{recipient}" if recipient else s.get("channel")
    for key, value in (
        ("channel", channel),
        ("username", s.get("username")),
        ("icon_url", s.get("icon_url")),
        ("icon_emoji", s.get("icon_emoji")),
    ):
        if value:
            payload[key] = value
    if s.bool("link_names"):
        payload["link_names"] = 1
    return payload


def post_json(s: Settings, url: str, payload: dict[str, Any], label: str) -> None:
    resp = webhook.call_with_retries(
        "POST",
        url,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json"},
        retries=s.int("retries", default=0),
        retry_delay=s.float("retry_delay", default=1.0),
        label=label,
    )
    if label == "DingTalk":
        try:
            answer = json.loads(resp.content or b"{}")
        except ValueError:
            answer = {}
        if answer.get("errcode", 0) != 0:
            raise PluginError(
                f"DingTalk refused the message: {answer.get('errmsg')} "
                "(check 'access_token', 'secret' and the robot's keyword/IP settings)"
            )


def main(environ: dict[str, str] | None = None) -> int:
    s = Settings(environ)
    targets = chosen_targets(s)
    text, variables = message(s)
    say(f"notifying {', '.join(targets)}: {text.splitlines()[0] if text else ''}")
    for target in targets:
        if target == "webhook":
            body = dict(webhook.default_body(s.environ), message=text)
            webhook.send(webhook.read_webhook(s, body=body, template_names=("body",)))
        elif target == "dingtalk":
            post_json(s, dingtalk_url(s), dingtalk_payload(s, text, variables), "DingTalk")
        else:
            url = s.require_secret("webhook", "slack_webhook")
            post_json(s, url, slack_payload(s, text, variables), "Slack")
    say(f"sent to {len(targets)} target(s)")
    return 0


if __name__ == "__main__":
    run(main)
