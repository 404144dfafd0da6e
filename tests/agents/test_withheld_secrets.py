"""A step that asks for secrets it does not get says so in its log: a real server and agent run
a step asking for a secret that does not exist and one restricted to another image, and its log
has one warning line for each, naming the secret and why (never a value); a secret it may have
reaches it without a warning."""

from __future__ import annotations

import pytest

from tests.agents.harness import SLUG, AgentProcess, Fleet

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PIPELINE = """\
kind: pipeline
name: default
clone:
  disable: true
steps:
- name: publish
  image: runner-test/busybox
  environment:
    MISSING:
      from_secret: no_such_secret
    PUSH_PASSWORD:
      from_secret: registry_password
    TOKEN:
      from_secret: token
  commands:
  - echo "token-bytes=$${#TOKEN} missing-bytes=$${#MISSING} password-bytes=$${#PUSH_PASSWORD}"
"""


def test_a_step_logs_a_warning_for_each_secret_it_asked_for_and_did_not_get(
    docker_client, tmp_path
):
    with Fleet(tmp_path) as fleet:
        server = fleet.server
        for secret in (
            {"name": "registry_password", "value": "hunter2-pw", "images": ["plugins/docker"]},
            {"name": "token", "value": "tok-value"},
        ):
            server.ok("POST", f"/repos/{SLUG}/secrets", json=secret)
        fleet.agents.append(AgentProcess(server, tmp_path, "agent-1").start())
        sha = fleet.forge.push({".drone.yml": PIPELINE})
        made = server.hook(
            SLUG,
            fleet.repo["webhook_secret"],
            {"event": "push", "ref": "refs/heads/main", "commit": sha},
        )
        build = server.wait_done(SLUG, made["build"]["number"])
        assert build["status"] == "success", build
        stage = build["stages"][0]
        log = server.step_log(SLUG, build["number"], stage["number"], 1).splitlines()
        warnings = [line for line in log if line.startswith("warning: secret")]
        assert warnings == [
            "warning: secret no_such_secret was not given to this step: "
            "no such secret in this repository",
            "warning: secret registry_password was not given to this step: "
            "it is restricted to other images (plugins/docker)",
        ], log
        assert "token-bytes=9 missing-bytes=0 password-bytes=0" in log
        assert not any("hunter2-pw" in line for line in log)
