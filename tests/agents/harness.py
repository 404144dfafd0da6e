"""Real processes for the agent acceptance tests: a `runner server` without its embedded agent,
`runner agent` processes with their own data directories, and a local git 'forge'.

Every container the agents start carries the test label (``RUNNER_AGENT_ENGINE_LABELS``), so
the session's ``docker_client`` fixture removes whatever a failed test left.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from runner.forges.generic import signature
from tests.conftest import TEST_LABEL

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "admin-password-agents"
DONE = ("success", "failure", "killed", "error", "skipped", "declined")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "runner", *args],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen | None, sig=signal.SIGTERM, wait: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class Server:
    """A `runner server` process on a fixed port (kept across restarts) and data directory."""

    def __init__(self, data_dir: Path, *, lease_seconds: int = 30, policy: str = "requeue"):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RUNNER_DATA_DIR": str(data_dir),
            "RUNNER_HOST": "127.0.0.1",
            "RUNNER_PORT": str(self.port),
            "RUNNER_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "RUNNER_EMBEDDED_AGENT": "false",
            "RUNNER_LEASE_SECONDS": str(lease_seconds),
            "RUNNER_LOST_STAGE_POLICY": policy,
        }
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen | None = None
        self.http = requests.Session()
        self._admin = ""

    def start(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = _spawn(["server"], self.env, self.log_path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited at start:\n{self.log()}")
            try:
                requests.get(self.url + "/api/v1/user", timeout=2)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError(f"server did not answer within 60s:\n{self.log()}")

    def stop(self) -> None:
        _stop(self.proc)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "runner", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, f"runner {' '.join(args)} failed: {out.stderr}"
        return out.stdout.strip()

    @property
    def admin(self) -> str:
        if not self._admin:
            self._admin = self.cli("user", "token", "admin", "--name", uuid.uuid4().hex[:8])
        return self._admin

    def user(self, login: str) -> str:
        """A token of a new user ``login``."""
        self.cli("user", "add", login, "--password", "pw-" + login)
        return self.cli("user", "token", login, "--name", uuid.uuid4().hex[:8])

    def api(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {token or self.admin}"}
        return self.http.request(
            method, self.url + "/api/v1" + path, headers=headers, timeout=30, **kwargs
        )

    def ok(self, method: str, path: str, token: str | None = None, **kwargs):
        resp = self.api(method, path, token, **kwargs)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def hook(self, slug: str, secret: str, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        resp = self.http.post(
            f"{self.url}/hook/{slug}",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Runner-Signature": signature(body, secret),
                "X-Runner-Delivery": uuid.uuid4().hex,
            },
            timeout=60,
        )
        assert resp.status_code < 300, f"hook: {resp.status_code} {resp.text}"
        return resp.json()

    def build(self, slug: str, number: int) -> dict:
        return self.ok("GET", f"/repos/{slug}/builds/{number}")

    def wait(self, slug: str, number: int, until, timeout: float = 120, what: str = "") -> dict:
        """Poll build ``number`` until ``until(build)``; the build then."""
        deadline = time.monotonic() + timeout
        build: dict = {}
        while time.monotonic() < deadline:
            build = self.build(slug, number)
            if until(build):
                return build
            time.sleep(0.2)
        raise AssertionError(f"build {number} never {what}: {build}\n{self.log()}")

    def wait_done(self, slug: str, number: int, timeout: float = 120) -> dict:
        return self.wait(slug, number, lambda b: b["status"] in DONE, timeout, "finished")

    def step_log(self, slug: str, number: int, stage: int, step: int) -> str:
        resp = self.api("GET", f"/repos/{slug}/builds/{number}/logs/{stage}/{step}")
        assert resp.status_code == 200, resp.text
        return resp.text

    def agent_token(self, name: str) -> str:
        return self.cli("user", "agent-token", name)


class AgentProcess:
    """A `runner agent` process with its own data directory (mirrors) and log."""

    def __init__(
        self,
        server: Server,
        root: Path,
        name: str,
        *,
        labels: str = "",
        capacity: int = 1,
        extra_env: dict[str, str] | None = None,
    ):
        self.server = server
        self.name = name
        self.token = server.agent_token(name)
        self.dir = root / f"agent-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.args = [
            "agent",
            "--server",
            server.url,
            "--token",
            self.token,
            "--name",
            name,
            "--labels",
            labels,
            "--capacity",
            str(capacity),
        ]
        self.env = {
            **os.environ,
            "RUNNER_DATA_DIR": str(self.dir),
            "RUNNER_AGENT_ENGINE_LABELS": f"{TEST_LABEL}=1",
            **(extra_env or {}),
        }
        self.log_path = self.dir / "agent.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> AgentProcess:
        self.proc = _spawn(self.args, self.env, self.log_path)
        return self

    def kill(self) -> None:
        """kill -9: no cleanup, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        _stop(self.proc)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"git {' '.join(args)}: {out.stderr}"
    return out.stdout.strip()


class Forge:
    """A bare repository the server and agents fetch from, and a working copy pushing to it."""

    def __init__(self, root: Path):
        self.bare = root / "origin.git"
        self.work = root / "work"
        root.mkdir(parents=True, exist_ok=True)
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(root, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def push(self, files: dict[str, str], branch: str = "main", tag: str = "") -> str:
        for name, text in files.items():
            (self.work / name).write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", f"change on {branch}")
        git(self.work, "push", "-q", "-f", "origin", f"HEAD:refs/heads/{branch}")
        if tag:
            git(self.work, "tag", tag)
            git(self.work, "push", "-q", "origin", f"refs/tags/{tag}")
        return git(self.work, "rev-parse", "HEAD")


def add_repo(server: Server, forge: Forge, slug: str = "acme/app") -> dict:
    return server.ok(
        "POST", "/repos", json={"slug": slug, "forge": "generic", "clone_url": forge.url}
    )


def agent_ids(server: Server) -> dict[str, int]:
    return {a["name"]: a["id"] for a in server.ok("GET", "/agents")}


def agent_containers(docker_client, agent_name: str) -> list:
    """Ids of the containers of ``agent_name`` still on the engine (no inspect: no race)."""
    flt = {"label": f"pipeline-runner.agent={agent_name}"}
    return docker_client.api.containers(all=True, filters=flt, quiet=True)
