"""A real `runner server` subprocess (embedded agent, Docker) for the web UI acceptance tests,
a local git repository to build, and signed GitHub push webhooks; all on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
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

ADMIN_PASSWORD = "admin-pass-1"
TEST_LABEL = "pipeline-runner.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`runner server` with its own data directory and port; restartable on the same ones."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RUNNER_DATA_DIR": str(data_dir),
            "RUNNER_HOST": "127.0.0.1",
            "RUNNER_PORT": str(self.port),
            "RUNNER_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "RUNNER_EMBEDDED_AGENT": "true",
            "RUNNER_AGENT_CAPACITY": "2",
            "RUNNER_AGENT_ENGINE_LABELS": f"{TEST_LABEL}=1",
            "RUNNER_AGENT_NAME": f"webui-{uuid.uuid4().hex[:8]}",
        }
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir / "server.log"
        self.http = requests.Session()
        self.http.auth = None

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "runner", "server"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited at start:\n{self.log()}")
            try:
                requests.get(self.url + "/login", timeout=5)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError(f"server did not answer within 60s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL of the process group if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "runner", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, f"runner {' '.join(args)} failed: {out.stderr}"
        return out.stdout

    def token(self, login: str = "admin") -> str:
        return self.cli("user", "token", login, "--name", f"t-{uuid.uuid4().hex[:6]}").strip()

    def api(self, method: str, path: str, token: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.http.request(
            method, self.url + "/api/v1" + path, headers=headers, timeout=30, **kwargs
        )

    def build(self, slug: str, number: int, token: str) -> dict:
        resp = self.api("GET", f"/repos/{slug}/builds/{number}", token)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(self, slug: str, number: int, token: str, check, timeout: float = 120) -> dict:
        """Poll build ``number`` until ``check(build)`` holds; return it."""
        deadline = time.monotonic() + timeout
        build = {}
        while time.monotonic() < deadline:
            build = self.build(slug, number, token)
            if check(build):
                return build
            time.sleep(0.2)
        raise AssertionError(f"build {number} never reached the state: {build}\n{self.log()}")


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


class LocalRepo:
    """A bare repository (the 'forge') and a working copy pushing to it."""

    def __init__(self, root: Path):
        self.bare = root / "origin.git"
        self.work = root / "work"
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(root, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.bare))

    @property
    def clone_url(self) -> str:
        return f"file://{self.bare}"

    def commit(self, files: dict[str, str], message: str, branch: str = "main") -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return git(self.work, "rev-parse", "HEAD")


def github_push(
    slug: str, repo: LocalRepo, sha: str, secret: str, *, branch: str, message: str
) -> tuple[dict, bytes]:
    """Headers and body of a GitHub push webhook signed with ``secret``."""
    owner, name = slug.split("/")
    payload = {
        "ref": f"refs/heads/{branch}",
        "before": "0" * 40,
        "after": sha,
        "created": False,
        "deleted": False,
        "repository": {
            "id": 1,
            "name": name,
            "full_name": slug,
            "private": False,
            "owner": {"login": owner, "name": owner},
            "html_url": f"https://github.com/{slug}",
            "clone_url": repo.clone_url,
            "default_branch": "main",
        },
        "pusher": {"name": "dev", "email": "dev@example.com"},
        "sender": {"login": "dev", "avatar_url": ""},
        "head_commit": {
            "id": sha,
            "message": message,
            "timestamp": "2026-11-22T05:00:00Z",
            "url": f"https://github.com/{slug}/commit/{sha}",
            "author": {"name": "Dev", "email": "dev@example.com", "username": "dev"},
            "added": [],
            "removed": [],
            "modified": [".drone.yml"],
        },
        "commits": [],
    }
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    return headers, body
