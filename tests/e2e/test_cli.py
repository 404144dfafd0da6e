"""The command line against a real server: secrets added with `runner secret`, a manual build
started, listed, shown, its log printed and followed, restarted and cancelled with
`runner build`."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import add_repo

pytestmark = [pytest.mark.docker]

PIPELINE = """\
kind: pipeline
name: default
steps:
- name: hello
  image: runner-test/busybox
  environment:
    PASSWORD:
      from_secret: password
  commands:
  - echo "event $DRONE_BUILD_EVENT password $PASSWORD"
- name: wait
  image: runner-test/busybox
  commands:
  - sleep 30
"""


def test_secret_and_build_commands(server, admin_token, local_repo):
    slug = "acme/cli"
    add_repo(server, admin_token, slug, local_repo)
    local_repo.commit({".drone.yml": PIPELINE})
    out = server.cli("secret", "add", slug, "password", "pa55-word-cli")
    assert "saved" in out
    assert "password" in server.cli("secret", "ls", slug)
    assert "pa55-word-cli" not in server.cli("secret", "ls", slug)

    env_args = ["build", "--server", server.url, "--token", admin_token]
    created = server.cli(*env_args, "create", slug, "--branch", "main")
    assert created.startswith("#1 ")
    log = server.cli(*env_args, "logs", slug, "1", "1/2", "--follow")
    assert log.splitlines()[-1] == "event custom password ******"
    shown = server.cli(*env_args, "show", slug, "1")
    assert "1/2 hello: success" in shown
    assert "#1" in server.cli(*env_args, "ls", slug)

    cancelled = server.cli(*env_args, "cancel", slug, "1")
    assert cancelled.startswith("#1 ")
    build = server.wait_build(slug, 1, admin_token)
    assert build["status"] == "killed"
    assert server.cli(*env_args, "logs", slug, "1", "1/2").endswith("password ******\n")

    restarted = server.cli(*env_args, "restart", slug, "1")
    assert restarted.startswith("#2 ")
    server.cli(*env_args, "cancel", slug, "2")
    assert server.wait_build(slug, 2, admin_token)["status"] == "killed"
