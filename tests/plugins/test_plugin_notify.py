"""The notify plugin posts the build result to a local receiver in the generic webhook,
DingTalk (signed) and Slack formats, for a success and for a failure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import notify_plugin
import pytest

TOKEN = "ding-token-0123456789"
DING_SECRET = "SECding-secret-abcdef"
SLACK_PATH = "/services/T000/B000/XXXXSLACKSECRET"


def _env(plugin_env, receiver, status):
    return dict(
        plugin_env,
        DRONE_BUILD_STATUS=status,
        PLUGIN_URLS=f"{receiver.url}/hook",
        PLUGIN_ACCESS_TOKEN=TOKEN,
        PLUGIN_SECRET=DING_SECRET,
        PLUGIN_DINGTALK_URL=f"{receiver.url}/robot/send",
        PLUGIN_WEBHOOK=f"{receiver.url}{SLACK_PATH}",
        PLUGIN_CHANNEL="#deploys",
    )


@pytest.mark.parametrize(
    "status, word, color",
    [("success", "Build succeeded", "good"), ("failure", "Build failed", "danger")],
)
def test_posts_all_three_formats(plugin_env, receiver, in_process, status, word, color):
    receiver.answers["/robot/send"] = b'{"errcode": 0, "errmsg": "ok"}'
    code, out = in_process(notify_plugin.main, _env(plugin_env, receiver, status))
    assert code == 0, out
    assert TOKEN not in out and DING_SECRET not in out and "XXXXSLACKSECRET" not in out
    hook, ding, slack = receiver.requests
    title = f"{word}: team/app #42 (tag v1.2.3) by alice"

    assert hook.path == "/hook"
    body = hook.json()
    assert body["build"]["status"] == status and body["repo"]["full_name"] == "team/app"
    assert body["message"].startswith(title)

    query = urllib.parse.parse_qs(urllib.parse.urlsplit(ding.path).query)
    assert query["access_token"] == [TOKEN]
    stamp = query["timestamp"][0]
    digest = hmac.new(DING_SECRET.encode(), f"{stamp}\n{DING_SECRET}".encode(), hashlib.sha256)
    assert query["sign"] == [base64.b64encode(digest.digest()).decode()]
    ding_body = ding.json()
    assert ding_body["msgtype"] == "markdown"
    assert ding_body["markdown"]["text"].startswith(title)
    assert ding_body["markdown"]["title"] == f"team/app #42 {status}"

    assert slack.path == SLACK_PATH
    slack_body = slack.json()
    assert slack_body["channel"] == "#deploys"
    assert slack_body["attachments"][0]["color"] == color
    assert slack_body["text"] == title
    assert 'Release "1.2.3"' in slack_body["attachments"][0]["text"]


def test_custom_template_and_text_message(plugin_env, receiver, in_process):
    receiver.answers["/robot/send"] = b'{"errcode": 0}'
    env = dict(
        plugin_env,
        PLUGIN_TOKEN=TOKEN,
        PLUGIN_MSG_TYPE="text",
        PLUGIN_DINGTALK_URL=f"{receiver.url}/robot/send",
        PLUGIN_TEMPLATE="{{ repo.name }} {{ build.tag }} is {{ build.status }} (${DRONE_BRANCH})",
    )
    code, out = in_process(notify_plugin.main, env)
    assert code == 0, out
    (ding,) = receiver.requests
    assert ding.json()["text"]["content"] == "app v1.2.3 is success (main)"


def test_dingtalk_refusal_fails_the_step(plugin_env, receiver, in_process):
    receiver.answers["/robot/send"] = b'{"errcode": 310000, "errmsg": "sign not match"}'
    env = dict(plugin_env, PLUGIN_TOKEN=TOKEN, PLUGIN_DINGTALK_URL=f"{receiver.url}/robot/send")
    code, out = in_process(notify_plugin.main, env)
    assert code == 1
    assert "DingTalk refused the message: sign not match" in out.splitlines()[-1]
    assert TOKEN not in out


def test_no_target_is_one_line(plugin_env, in_process):
    code, out = in_process(notify_plugin.main, plugin_env)
    assert code == 1
    assert out.count("\n") == 1 and out.startswith("error: missing required setting 'urls'")


@pytest.mark.docker
def test_plugin_image_posts_to_the_receiver(plugin_images, run_plugin, receiver, plugin_env):
    env = dict(
        plugin_env, DRONE_BUILD_STATUS="failure", PLUGIN_WEBHOOK=f"{receiver.url}{SLACK_PATH}"
    )
    result = run_plugin(plugin_images["notify"], env, host_network=True)
    assert result.exit_code == 0, result.output
    assert "XXXXSLACKSECRET" not in result.output
    (slack,) = receiver.requests
    assert slack.json()["attachments"][0]["color"] == "danger"
