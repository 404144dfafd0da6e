"""The server does not fall with Docker: `runner server` whose ``DOCKER_HOST`` names a dead
socket starts and answers its API and webhooks; its embedded agent shows itself unhealthy with
the reason (API and `runner agent ls`), claims nothing, and the build waits with a reason that
says so — then, once the socket leads to the real engine, the same agent process recovers on
its own and runs the build."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from runner.testing import LocalRepo, ServerProcess, github_push

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLUG = "acme/app"
REAL_ENGINE = "/var/run/docker.sock"
PIPELINE = """kind: pipeline
name: default
clone:
  disable: true
steps:
- name: hello
  image: runner-test/busybox
  commands:
  - echo hello from a recovered agent
"""


class EngineSocket:
    """A unix socket at ``path`` that leads to the real Docker engine while ``open()``: before,
    nothing listens there (a dead ``DOCKER_HOST``)."""

    def __init__(self, path: Path):
        self.path = path
        self._listener: socket.socket | None = None

    def open(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        while self._listener is not None:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=_relay, args=(client,), daemon=True).start()


def _relay(client: socket.socket) -> None:
    """Carry one connection to the real engine both ways until both sides are done."""
    with client, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as engine:
        engine.connect(REAL_ENGINE)
        back = threading.Thread(target=_pipe, args=(engine, client), daemon=True)
        back.start()
        _pipe(client, engine)
        back.join()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def wait_for(what: str, check, server: ServerProcess, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"never {what}:\n{server.log()}"
        time.sleep(0.2)


def test_server_serves_with_the_engine_down_and_its_agent_recovers_when_it_is_back(
    docker_client, tmp_path
):
    engine = EngineSocket(tmp_path / "docker.sock")
    server = ServerProcess(
        tmp_path / "server",
        capacity=1,
        extra_env={"DOCKER_HOST": f"unix://{engine.path}"},
    )
    try:
        server.start()  # answers its API: it did not fall with the engine
        admin = server.token()
        forge = LocalRepo(tmp_path / "forge")
        sha = forge.commit({".drone.yml": PIPELINE})
        made = server.api(
            "POST", "/repos", admin, json={"slug": SLUG, "forge": "github", "clone_url": "x"}
        )
        assert made.status_code == 201, made.text
        server.api("PATCH", f"/repos/{SLUG}", admin, json={"clone_url": forge.clone_url})
        hook = server.post_hook(SLUG, *github_push(SLUG, forge, sha, made.json()["webhook_secret"]))
        assert hook.status_code < 300, hook.text
        number = hook.json()["build"]["number"]

        def unhealthy():
            agents = server.api("GET", "/agents", admin).json()
            return agents and agents[0]["unhealthy"]

        reason = wait_for("showed the agent unhealthy", unhealthy, server)
        assert "cannot reach the Docker engine" in reason
        listing = server.cli("agent", "ls", "--server", server.url, "--token", admin)
        assert "engine unreachable: cannot reach the Docker engine" in listing, listing
        waiting = server.api("GET", f"/repos/{SLUG}/builds/{number}/waiting", admin).json()
        assert "unhealthy" in waiting[0]["reason"], waiting
        # The agent keeps retrying but takes nothing it could only fail.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            build = server.build(SLUG, number, admin)
            assert build["status"] == "pending" and build["stages"][0]["attempts"] == 0, build
            time.sleep(0.5)

        engine.open()  # the engine is back at the same address
        build = server.wait_build(SLUG, number, admin, timeout=120, what="ran after recovery")
        assert build["status"] == "success", (build, server.log())
        assert build["stages"][0]["attempts"] == 1
        assert wait_for("cleared the unhealthy mark", lambda: not unhealthy(), server)
        assert os.path.exists(engine.path)
    finally:
        server.stop()
        engine.close()
