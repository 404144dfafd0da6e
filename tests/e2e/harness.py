"""Helpers of the end-to-end tests: a real `runner server` subprocess, a local git repository
and signed webhooks, all on 127.0.0.1."""

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

from tests.conftest import TEST_LABEL

ADMIN_PASSWORD = "admin-password-e2e"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(args: list[str], env: dict[str, str]) -> str:
    """Run ``runner ARGS`` with ``env`` and return its standard output."""
    out = subprocess.run(
        [sys.executable, "-m", "runner", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, f"runner {' '.join(args)} failed: {out.stderr}"
    return out.stdout


class ServerProcess:
    """A `runner server` subprocess with its own data dir, port and (optional) database URL."""

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str = "",
        embedded_agent: bool = True,
        capacity: int = 2,
        extra_env: dict[str, str] | None = None,
    ):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RUNNER_DATA_DIR": str(data_dir),
            "RUNNER_HOST": "127.0.0.1",
            "RUNNER_PORT": str(self.port),
            "RUNNER_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "RUNNER_EMBEDDED_AGENT": "true" if embedded_agent else "false",
            "RUNNER_AGENT_CAPACITY": str(capacity),
            "RUNNER_AGENT_ENGINE_LABELS": f"{TEST_LABEL}=1",
            "RUNNER_AGENT_NAME": f"e2e-{uuid.uuid4().hex[:8]}",
            "RUNNER_LEASE_SECONDS": "60",
            **(extra_env or {}),
        }
        if database_url:
            self.env["RUNNER_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir / "server.log"
        self.session = requests.Session()

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runner", "server"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc.wait()
                raise AssertionError(f"server exited at start:\n{self.log()}")
            try:
                requests.get(self.url + "/api/v1/user", timeout=5)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server did not answer within 60s:\n{self.log()}")

    def stop(self) -> None:
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
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def cli(self, *args: str) -> str:
        return run_cli(list(args), self.env)

    def token(self, login: str = "admin") -> str:
        """A fresh API token of ``login``, made with `runner user token`."""
        return self.cli("user", "token", login, "--name", f"e2e-{uuid.uuid4().hex[:6]}").strip()

    def api(self, method: str, path: str, token: str = "", **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(
            method, self.url + "/api/v1" + path, headers=headers, timeout=30, **kwargs
        )

    def wait_build(self, slug: str, number: int, token: str, timeout: float = 120) -> dict:
        """Poll the API until build ``number`` is finished; return it."""
        deadline = time.monotonic() + timeout
        build = {}
        while time.monotonic() < deadline:
            resp = self.api("GET", f"/repos/{slug}/builds/{number}", token)
            if resp.status_code == 200:
                build = resp.json()
                if build["status"] not in ("pending", "running", "blocked", "waiting"):
                    return build
            time.sleep(0.2)
        raise AssertionError(f"build {number} not finished: {build}\n{self.log()}")


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
    """A bare repository (the 'forge') and a working copy that pushes to it."""

    def __init__(self, root: Path):
        self.bare = root / "origin.git"
        self.work = root / "work"
        root.mkdir(parents=True, exist_ok=True)
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(root, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.bare))

    @property
    def clone_url(self) -> str:
        return f"file://{self.bare}"

    def commit(self, files: dict[str, str], message: str = "change", branch: str = "main") -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return git(self.work, "rev-parse", "HEAD")


def github_push(
    slug: str,
    repo: LocalRepo,
    sha: str,
    secret: str,
    *,
    branch: str = "main",
    message: str = "change",
) -> tuple[dict, bytes]:
    """Headers and body of a GitHub push webhook, signed with ``secret``."""
    owner, name = slug.split("/")
    payload = {
        "ref": f"refs/heads/{branch}",
        "before": "0" * 40,
        "after": sha,
        "created": False,
        "deleted": False,
        "forced": False,
        "compare": f"https://github.com/{slug}/compare/{sha}",
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
            "timestamp": "2026-11-22T04:40:00Z",
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
        "User-Agent": "GitHub-Hookshot/e2e",
    }
    return headers, body


def gitlab_push(
    slug: str,
    repo: LocalRepo,
    sha: str,
    secret: str,
    *,
    branch: str = "main",
    message: str = "change",
) -> tuple[dict, bytes]:
    """Headers and body of a GitLab push webhook carrying the secret token."""
    owner, name = slug.split("/")
    payload = {
        "object_kind": "push",
        "event_name": "push",
        "before": "0" * 40,
        "after": sha,
        "ref": f"refs/heads/{branch}",
        "checkout_sha": sha,
        "user_name": "Dev",
        "user_username": "dev",
        "user_email": "dev@example.com",
        "user_avatar": "",
        "project_id": 7,
        "project": {
            "id": 7,
            "name": name,
            "namespace": owner,
            "path_with_namespace": slug,
            "default_branch": "main",
            "web_url": f"https://gitlab.example.com/{slug}",
            "git_http_url": repo.clone_url,
        },
        "commits": [
            {
                "id": sha,
                "message": message,
                "timestamp": "2026-11-22T04:40:00+00:00",
                "url": f"https://gitlab.example.com/{slug}/-/commit/{sha}",
                "author": {"name": "Dev", "email": "dev@example.com"},
                "added": [],
                "modified": [".drone.yml"],
                "removed": [],
            }
        ],
        "total_commits_count": 1,
        "repository": {"name": name, "homepage": f"https://gitlab.example.com/{slug}"},
    }
    headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": secret,
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
    }
    return headers, json.dumps(payload).encode()


def sse_events(resp: requests.Response):
    """Yield ``(event, id, data_lines)`` from a streaming SSE response."""
    event, ident, data = "message", None, []
    for raw in resp.iter_lines(decode_unicode=True):
        if raw is None:
            continue
        if raw == "":
            if data or event != "message":
                yield event, ident, data
            event, ident, data = "message", None, []
            continue
        if raw.startswith(":"):
            continue
        field, _, value = raw.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "id":
            ident = value
        elif field == "data":
            data.append(value)


class AgentProcess:
    """A `runner agent` subprocess working for ``server`` with a token of its own."""

    def __init__(self, server: ServerProcess, data_dir: Path, name: str = "remote-agent"):
        token = server.cli("user", "agent-token", name, "--capacity", "1").strip()
        self.env = {
            **os.environ,
            "RUNNER_DATA_DIR": str(data_dir),
            "RUNNER_AGENT_ENGINE_LABELS": f"{TEST_LABEL}=1",
        }
        self.args = [
            sys.executable,
            "-m",
            "runner",
            "agent",
            "--server",
            server.url,
            "--token",
            token,
            "--name",
            f"{name}-{uuid.uuid4().hex[:6]}",
        ]
        self.log_path = data_dir / "agent.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    def start(self) -> AgentProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]
