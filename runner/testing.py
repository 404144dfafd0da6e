"""Helpers for tests and benchmarks that run the real thing, like ``flask.testing`` for Flask.

- :class:`ServerProcess`: `runner server` as a subprocess on a free port of 127.0.0.1 with its
  own data directory, with calls for the CLI, API tokens, the API and waiting for a build.
- :class:`AgentProcess`: a `runner agent` subprocess working for such a server.
- :class:`LocalRepo`: a bare git repository standing in for the forge, and a working copy that
  commits and pushes to it (cloned over ``file://``).
- :func:`github_push`: the headers and body of a signed GitHub push webhook.
- :class:`Balancer` (from :mod:`runner.testing_balancer`): a TCP load balancer in front of
  several servers, skipping one that was killed.
- :func:`postgres_server` (from :mod:`runner.testing_postgres`): a real PostgreSQL server on
  127.0.0.1 for the time of a ``with`` block, databases made and dropped on demand.
- :func:`s3_server` (from :mod:`runner.testing_s3`): moto's S3 server on 127.0.0.1 with one
  bucket, and the settings that put a server's logs there.
- From :mod:`runner.testing_session`: the session's id and Docker label, copies of a migrated
  template database, and settings with cheap password hashing for in-process applications.

Everything listens on or talks to 127.0.0.1 only. Processes run in their own session so that
:meth:`ServerProcess.stop` can kill the whole group (gunicorn and its worker) if SIGTERM is not
enough. Failures raise ``AssertionError`` carrying the tail of the server's log, so pytest
reports them as test failures with the evidence. Nothing in the server or agent imports this.
"""

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from runner.testing_balancer import Balancer
from runner.testing_postgres import PostgresServer, postgres_server
from runner.testing_s3 import S3Server, s3_server
from runner.testing_session import (
    CHEAP_PASSWORD_HASH,
    SESSION_ENV,
    TEST_LABEL,
    app_settings,
    migrated_sqlite,
    session_id,
    session_label,
)

__all__ = [
    "ACTIVE",
    "ADMIN_PASSWORD",
    "CHEAP_PASSWORD_HASH",
    "SESSION_ENV",
    "TEST_LABEL",
    "AgentProcess",
    "Balancer",
    "PostgresServer",
    "S3Server",
    "LocalRepo",
    "ServerProcess",
    "app_settings",
    "finished",
    "free_port",
    "git",
    "github_push",
    "migrated_sqlite",
    "postgres_server",
    "run_cli",
    "s3_server",
    "session_id",
    "session_label",
]

ADMIN_PASSWORD = "admin-password-test"
ACTIVE = ("pending", "running", "blocked", "waiting")
"""Build statuses of a build that is not over yet."""

LOG_TAIL = 8000
# What a server's log says when its port was taken between free_port() and its bind.
_PORT_TAKEN = "Address already in use"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def finished(build: dict[str, Any]) -> bool:
    """Whether ``build`` (as the API returns it) is over, whatever its outcome."""
    return build["status"] not in ACTIVE


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``runner ARGS`` in a new session, its output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "runner", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM (the graceful path under test), then SIGKILL of the group if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL:]
    except OSError:
        return ""


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> str:
    """Run ``runner ARGS`` with ``env``; its standard output. Fails unless it exits with 0."""
    out = subprocess.run(
        [sys.executable, "-m", "runner", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, f"runner {' '.join(args)} failed: {out.stderr}"
    return out.stdout


class ServerProcess:
    """`runner server` on its own port and data directory; restartable on the same ones.

    Construct, then :meth:`start` (or use it as a context manager); :meth:`stop` may be called
    at any time and more than once. ``env`` is the environment the server and :meth:`cli` run
    with; change it before :meth:`start` to set what the options do not cover. Once started,
    ``env`` also holds ``RUNNER_SERVER`` and an admin's ``RUNNER_TOKEN``, so a `runner` command
    run with it talks to this server's API. Containers of the embedded agent carry
    ``engine_labels`` (by default the session's test label).

    Unless ``migrated_copy`` is False (or ``database_url`` is given), the first start finds a
    copy of a migrated template database in ``data_dir`` instead of migrating an empty one;
    passwords are hashed cheaply (``RUNNER_PASSWORD_HASH_METHOD``) unless ``extra_env`` says
    otherwise.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        admin_password: str = ADMIN_PASSWORD,
        embedded_agent: bool = True,
        capacity: int = 2,
        agent_name: str = "",
        engine_labels: str = "",
        lease_seconds: int | None = None,
        database_url: str = "",
        extra_env: dict[str, str] | None = None,
        migrated_copy: bool = True,
    ):
        self.data_dir = data_dir
        self.admin_password = admin_password
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.migrated_copy = migrated_copy and not database_url
        self.env = {
            **os.environ,
            SESSION_ENV: session_id(),
            "RUNNER_PASSWORD_HASH_METHOD": CHEAP_PASSWORD_HASH,
            "RUNNER_DATA_DIR": str(data_dir),
            "RUNNER_HOST": "127.0.0.1",
            "RUNNER_PORT": str(self.port),
            "RUNNER_ADMIN_PASSWORD": admin_password,
            "RUNNER_EMBEDDED_AGENT": "true" if embedded_agent else "false",
            "RUNNER_AGENT_CAPACITY": str(capacity),
            "RUNNER_AGENT_ENGINE_LABELS": engine_labels or session_label(),
            "RUNNER_AGENT_NAME": agent_name or f"agent-{uuid.uuid4().hex[:8]}",
        }
        if lease_seconds is not None:
            self.env["RUNNER_LEASE_SECONDS"] = str(lease_seconds)
        if database_url:
            self.env["RUNNER_DATABASE_URL"] = database_url
        self.env.update(extra_env or {})
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()

    def start(self, timeout: float = 60) -> ServerProcess:
        """Start the server and return once its API answers (the database is migrated then).

        On its first start, a port taken meanwhile by another process (tests run in parallel)
        is traded for another free one; a restart keeps its port."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        first_start = self.proc is None
        if first_start and self.migrated_copy and not (self.data_dir / "runner.db").exists():
            migrated_sqlite(self.data_dir / "runner.db")
        self.proc = _spawn(["server"], self.env, self.log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if first_start and _PORT_TAKEN in self.log():
                    self._move_to(free_port())
                    self.proc = _spawn(["server"], self.env, self.log_path)
                    first_start = False
                    continue
                raise AssertionError(f"server exited at start:\n{self.log()}")
            try:
                requests.get(self.url + "/api/v1/user", timeout=5)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            self._log_in_the_cli()
            return self
        self.stop()
        raise AssertionError(f"server did not answer within {timeout:.0f}s:\n{self.log()}")

    def _log_in_the_cli(self) -> None:
        """Point the CLI of ``env`` at this server as ``admin`` (``RUNNER_SERVER``,
        ``RUNNER_TOKEN``), with a token from ``POST /api/v1/tokens``, as `runner login` gets
        one. A password changed since the first start keeps the token of before."""
        self.env["RUNNER_SERVER"] = self.url
        resp = self.http.post(
            self.url + "/api/v1/tokens",
            json={"login": "admin", "password": self.admin_password, "name": "harness"},
            timeout=30,
        )
        if resp.status_code == 201:
            self.env["RUNNER_TOKEN"] = resp.json()["token"]

    def stop(self) -> None:
        """SIGTERM and wait (the server finishes what it was doing), SIGKILL after 30 s."""
        _stop(self.proc)

    def kill(self) -> None:
        """kill -9 of the server's group (gunicorn and its worker): no cleanup, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def _move_to(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env["RUNNER_PORT"] = str(port)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        """The end of the server's output, for failure messages."""
        return _tail(self.log_path)

    def cli(self, *args: str) -> str:
        """Run ``runner ARGS`` against this server (its API, as ``admin``); its standard
        output."""
        return run_cli(list(args), self.env)

    def token(self, login: str = "admin") -> str:
        """A fresh API token of ``login``, made in the server's database as `runner user token`
        makes it, without the second or so of starting that command."""
        from runner.store import Database, TokenStore, UserStore

        url = self.env.get("RUNNER_DATABASE_URL") or f"sqlite:///{self.data_dir / 'runner.db'}"
        database = Database(url)
        try:
            user = UserStore(database).get_by_login(login)
            name = f"t-{uuid.uuid4().hex[:6]}"
            return TokenStore(database).create(name, kind="user", user_id=user.id)[1]
        finally:
            database.dispose()

    def api(self, method: str, path: str, token: str = "", **kwargs: Any) -> requests.Response:
        """``METHOD /api/v1PATH`` with ``token`` as Bearer (none if empty); ``kwargs`` go to
        requests."""
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(
            method, self.url + "/api/v1" + path, headers=headers, timeout=30, **kwargs
        )

    def build(self, slug: str, number: int, token: str) -> dict[str, Any]:
        """Build ``number`` of ``slug`` with its stages and steps."""
        resp = self.api("GET", f"/repos/{slug}/builds/{number}", token)
        assert resp.status_code == 200, resp.text
        build: dict[str, Any] = resp.json()
        return build

    def wait_build(
        self,
        slug: str,
        number: int,
        token: str,
        until: Callable[[dict[str, Any]], bool] = finished,
        timeout: float = 120,
        what: str = "reached the state",
    ) -> dict[str, Any]:
        """Poll build ``number`` until ``until(build)`` holds (by default: it is over); the
        build then. Fails after ``timeout`` seconds, saying the build never ``what``."""
        deadline = time.monotonic() + timeout
        build: dict[str, Any] = {}
        while time.monotonic() < deadline:
            resp = self.api("GET", f"/repos/{slug}/builds/{number}", token)
            if resp.status_code == 200:
                build = resp.json()
                if until(build):
                    return build
            time.sleep(0.2)
        raise AssertionError(f"build {number} never {what}: {build}\n{self.log()}")

    def explain_build(self, slug: str, build: dict[str, Any], token: str, tail: int = 40) -> str:
        """What went on in ``build``, for a failing assertion: each step's status, exit code
        and error, and the last ``tail`` lines of the log of each step that did not succeed."""
        lines = [f"build #{build.get('number')}: {build.get('status')} {build.get('error') or ''}"]
        for stage in build.get("stages") or []:
            lines.append(f"  stage {stage['number']} {stage['name']}: {stage['status']}")
            for step in stage.get("steps") or []:
                lines.append(
                    f"    step {step['number']} {step['name']}: {step['status']}"
                    f" exit {step.get('exit_code')} {step.get('error') or ''}"
                )
                if step["status"] in ("success", "skipped", "pending"):
                    continue
                where = f"{build['number']}/logs/{stage['number']}/{step['number']}"
                resp = self.api("GET", f"/repos/{slug}/builds/{where}", token)
                lines.extend("      | " + line for line in resp.text.splitlines()[-tail:])
        return "\n".join(lines)

    def post_hook(self, slug: str, headers: dict[str, str], body: bytes) -> requests.Response:
        """Deliver a webhook (see :func:`github_push`) to ``/hook/SLUG``."""
        return self.http.post(f"{self.url}/hook/{slug}", data=body, headers=headers, timeout=60)


class AgentProcess:
    """A `runner agent` subprocess working for ``server``, with its own data directory.

    ``token`` defaults to a new agent token named ``name``, registered with ``labels`` and
    ``capacity``; both are also passed as options when given. The agent talks to
    ``server_url`` when given (a :class:`Balancer` in front of several servers), else to the
    server's. Call :meth:`start` (again after :meth:`stop` or :meth:`kill` to bring the same
    agent back).
    """

    def __init__(
        self,
        server: ServerProcess,
        data_dir: Path,
        name: str,
        *,
        token: str = "",
        labels: str | None = None,
        capacity: int | None = None,
        engine_labels: str = "",
        extra_env: dict[str, str] | None = None,
        server_url: str = "",
    ):
        self.server = server
        self.name = name
        if not token:
            # The agent's labels and capacity are registered with its token: announcing them
            # is not enough. Unset, the capacity is the agent's own default.
            from runner.settings import Settings

            registration = ["--capacity", str(capacity or Settings.agent_capacity)]
            if labels:
                registration += ["--labels", labels]
            token = server.cli("user", "agent-token", name, *registration).strip()
        self.token = token
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        url = server_url or server.url  # e.g. a Balancer's in front of several servers
        self.args = ["agent", "--server", url, "--token", self.token, "--name", name]
        if labels is not None:
            self.args += ["--labels", labels]
        if capacity is not None:
            self.args += ["--capacity", str(capacity)]
        self.env = {
            **os.environ,
            "RUNNER_DATA_DIR": str(data_dir),
            SESSION_ENV: session_id(),
            "RUNNER_AGENT_ENGINE_LABELS": engine_labels or session_label(),
            **(extra_env or {}),
        }
        self.log_path = data_dir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        """Start the agent; it connects to the server on its own."""
        self.proc = _spawn(self.args, self.env, self.log_path)
        return self

    def stop(self) -> None:
        """SIGTERM (the agent finishes or hands back its stages), SIGKILL after 30 s."""
        _stop(self.proc)

    def kill(self) -> None:
        """kill -9 of the agent's group: no cleanup, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        """The end of the agent's output, for failure messages."""
        return _tail(self.log_path)


def git(cwd: Path, *args: str) -> str:
    """Run ``git ARGS`` in ``cwd`` as a fixed author; its output. Fails with git's message."""
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


class LocalRepo:
    """A bare repository under ``root`` (the forge) and a working copy that pushes to it."""

    def __init__(self, root: Path):
        self.bare = root / "origin.git"
        self.work = root / "work"
        root.mkdir(parents=True, exist_ok=True)
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(root, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.bare))

    @property
    def clone_url(self) -> str:
        """The ``file://`` URL the server and agents clone from."""
        return f"file://{self.bare}"

    def commit(
        self, files: dict[str, str], message: str = "change", branch: str = "main", tag: str = ""
    ) -> str:
        """Write ``files``, commit (even with no change) and push the working copy's HEAD to
        ``branch`` (forced: one working copy serves every branch), and ``tag`` if given; the
        new commit's sha."""
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        git(self.work, "push", "-q", "-f", "origin", f"HEAD:refs/heads/{branch}")
        if tag:
            git(self.work, "tag", tag)
            git(self.work, "push", "-q", "origin", f"refs/tags/{tag}")
        return git(self.work, "rev-parse", "HEAD")

    def push_pull_request(self, number: int, sha: str) -> None:
        """Make ``refs/pull/<number>/head`` of the forge point at ``sha``, as GitHub does for
        a pull request's head."""
        git(self.work, "push", "-q", "-f", "origin", f"{sha}:refs/pull/{number}/head")


def github_push(
    slug: str,
    repo: LocalRepo,
    sha: str,
    secret: str,
    *,
    branch: str = "main",
    message: str = "change",
    tag: str = "",
    changed: list[str] | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a GitHub push webhook of ``sha`` on ``branch`` (or of the tag
    ``tag``: GitHub's push of ``refs/tags/<tag>``), signed with ``secret``; the repository
    clones from ``repo``. With ``changed``, the push's one commit lists those paths as
    modified (the build's changed files). Each call makes a new body (a new ``pushed_at``): a
    body sent again is a replay the server answers as a duplicate."""
    owner, name = slug.split("/")
    head = {
        "id": sha,
        "message": message,
        "timestamp": "2026-11-22T04:40:00Z",
        "url": f"https://github.com/{slug}/commit/{sha}",
        "author": {"name": "Dev", "email": "dev@example.com", "username": "dev"},
        "added": [],
        "removed": [],
        "modified": [".drone.yml"],
    }
    payload = {
        "ref": f"refs/tags/{tag}" if tag else f"refs/heads/{branch}",
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
            # Differs per push, as GitHub's own does: the server refuses a body it has seen.
            "pushed_at": time.time_ns(),
        },
        "pusher": {"name": "dev", "email": "dev@example.com"},
        "sender": {"login": "dev", "avatar_url": ""},
        "head_commit": head,
        "commits": [] if changed is None else [{**head, "modified": list(changed)}],
    }
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={signature}",
        "User-Agent": "GitHub-Hookshot/test",
    }
    return headers, body


def github_pull_request(
    slug: str,
    repo: LocalRepo,
    sha: str,
    secret: str,
    *,
    number: int,
    source_branch: str,
    target_branch: str = "main",
    title: str = "change",
    avatar_url: str = "",
    action: str = "opened",
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a GitHub ``pull_request`` webhook (``action``) of pull request
    ``number`` from ``source_branch`` of the same repository into ``target_branch``, its head
    at ``sha``, signed with ``secret``. The agents fetch ``refs/pull/<number>/head``, as from
    GitHub: push ``sha`` there first (``LocalRepo.push_pull_request``)."""
    owner, name = slug.split("/")
    repository = {
        "id": 1,
        "name": name,
        "full_name": slug,
        "private": False,
        "owner": {"login": owner},
        "html_url": f"https://github.com/{slug}",
        "clone_url": repo.clone_url,
        "default_branch": "main",
    }
    user = {"login": "dev", "avatar_url": avatar_url}
    payload = {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "title": title,
            "body": "",
            "html_url": f"https://github.com/{slug}/pull/{number}",
            "user": user,
            "head": {"ref": source_branch, "sha": sha, "repo": repository},
            "base": {"ref": target_branch, "sha": "0" * 40, "repo": repository},
            # Differs per delivery, as GitHub's own does: the server refuses a body it has seen.
            "updated_at": time.time_ns(),
        },
        "repository": repository,
        "sender": user,
    }
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={signature}",
        "User-Agent": "GitHub-Hookshot/test",
    }
    return headers, body
