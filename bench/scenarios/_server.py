"""Shared by the server benchmarks: a `runner server` subprocess on 127.0.0.1, a local bare git
repository as the forge, signed GitHub webhooks, and direct Docker runs for the floors.

Everything the benchmarks create carries the label ``pipeline-runner.bench=<run id>`` and is
removed at the end, whatever happens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
import requests

BUSYBOX = "runner-test/busybox"
LABEL = "pipeline-runner.bench"
ROOT = Path(__file__).resolve().parents[2]
SLUG = "bench/app"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


class BenchServer:
    """A server with its embedded agent, one repository and helpers; use as a context manager."""

    def __init__(self, *, capacity: int = 2, extra_env: dict[str, str] | None = None):
        self.run_id = uuid.uuid4().hex[:8]
        self.root = Path(tempfile.mkdtemp(prefix="runner-bench-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RUNNER_DATA_DIR": str(self.root / "data"),
            "RUNNER_HOST": "127.0.0.1",
            "RUNNER_PORT": str(self.port),
            "RUNNER_ADMIN_PASSWORD": "bench-admin-password",
            "RUNNER_AGENT_CAPACITY": str(capacity),
            "RUNNER_AGENT_ENGINE_LABELS": f"{LABEL}={self.run_id}",
            "RUNNER_AGENT_NAME": f"bench-{self.run_id}",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.docker = docker.from_env()
        self.session = requests.Session()
        self.token = ""
        self.secret = ""
        self.sha = ""

    def __enter__(self) -> BenchServer:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        (self.root / "data").mkdir(parents=True)
        self.log_file = open(self.root / "server.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runner", "server"],
            env=self.env,
            cwd=ROOT,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.session.get(self.url + "/api/v1/user", timeout=5)
                break
            except requests.RequestException as exc:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"the server did not start; see {self.root}") from exc
                time.sleep(0.05)
        self.token = subprocess.run(
            [sys.executable, "-m", "runner", "user", "token", "admin", "--name", "bench"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        self.bare = self.root / "origin.git"
        self.work = self.root / "work"
        _git(self.root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        _git(self.root, "init", "-q", "-b", "main", str(self.work))
        repo = self.session.post(
            self.url + "/api/v1/repos",
            json={"slug": SLUG, "forge": "github", "clone_url": f"file://{self.bare}"},
            timeout=30,
        )
        repo.raise_for_status()
        self.secret = repo.json()["webhook_secret"]

    def commit(self, pipeline: str) -> str:
        (self.work / ".drone.yml").write_text(pipeline)
        _git(self.work, "add", "-A")
        _git(self.work, "commit", "-q", "-m", "bench")
        _git(self.work, "push", "-q", str(self.bare), "HEAD:refs/heads/main")
        self.sha = _git(self.work, "rev-parse", "HEAD")
        return self.sha

    def webhook(self) -> float:
        """Send a signed push webhook for the last commit; returns when it was accepted."""
        body = json.dumps(
            {
                "ref": "refs/heads/main",
                "before": "0" * 40,
                "after": self.sha,
                "deleted": False,
                "repository": {
                    "full_name": SLUG,
                    "name": "app",
                    "owner": {"login": "bench"},
                    "clone_url": f"file://{self.bare}",
                    "default_branch": "main",
                    "private": False,
                },
                "head_commit": {
                    "id": self.sha,
                    "message": "bench",
                    "author": {"name": "Bench", "email": "bench@example.com", "username": "bench"},
                },
                "sender": {"login": "bench"},
                "pusher": {"name": "bench"},
            }
        ).encode()
        signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        resp = requests.post(
            self.url + f"/hook/{SLUG}",
            data=body,
            timeout=60,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": f"sha256={signature}",
            },
        )
        accepted = time.time()
        if resp.status_code not in (200, 201):
            raise RuntimeError(f"webhook refused: {resp.status_code} {resp.text}")
        return accepted

    def builds(self) -> list[dict]:
        return self.session.get(
            self.url + f"/api/v1/repos/{SLUG}/builds", params={"per_page": 100}, timeout=30
        ).json()

    def wait_all(self, count: int, timeout: float = 600) -> list[dict]:
        """Wait until ``count`` builds exist and are all finished; returns them (full)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = self.builds()
            if len(listed) >= count and all(
                b["status"] not in ("pending", "running", "blocked", "waiting") for b in listed
            ):
                return [self.build(b["number"]) for b in listed]
            time.sleep(0.02)
        raise RuntimeError(f"builds not finished within {timeout}s")

    def build(self, number: int) -> dict:
        return self.session.get(
            self.url + f"/api/v1/repos/{SLUG}/builds/{number}", timeout=30
        ).json()

    def worker_pid(self) -> int:
        """The gunicorn worker (serving requests and running the embedded agent)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return int(children.split()[0])

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        remove_labelled(self.docker, self.run_id)
        shutil.rmtree(self.root, ignore_errors=True)


def remove_labelled(client, run_id: str) -> None:
    flt = {"label": f"{LABEL}={run_id}"}
    for container in client.containers.list(all=True, filters=flt):
        container.remove(force=True)
    for network in client.networks.list(filters=flt):
        try:
            network.remove()
        except docker.errors.APIError:
            pass
    for volume in client.volumes.list(filters=flt):
        try:
            volume.remove(force=True)
        except docker.errors.APIError:
            pass


def run_direct(api, commands: list[str], run_id: str) -> None:
    """One container per command, create → start → wait → remove: the floor of a step."""
    for command in commands:
        cid = api.create_container(
            BUSYBOX, command=["/bin/sh", "-c", command], labels={LABEL: run_id}
        )["Id"]
        api.start(cid)
        api.wait(cid)
        api.remove_container(cid, force=True)


class StartWatcher:
    """Notes the engine's start time of every container labelled for this run."""

    def __init__(self, client, run_id: str):
        self.starts: list[float] = []
        self._events = client.events(
            decode=True,
            filters={"type": "container", "event": "start", "label": f"{LABEL}={run_id}"},
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.changed = threading.Condition()

    def _run(self) -> None:
        try:
            for event in self._events:
                with self.changed:
                    self.starts.append(event["timeNano"] / 1e9)
                    self.changed.notify_all()
        except Exception:  # the stream ends when closed
            return

    def wait_for(self, count: int, timeout: float = 60) -> float:
        with self.changed:
            self.changed.wait_for(lambda: len(self.starts) >= count, timeout)
            if len(self.starts) < count:
                raise RuntimeError("no container start seen")
            return self.starts[count - 1]

    def close(self) -> None:
        self._events.close()
