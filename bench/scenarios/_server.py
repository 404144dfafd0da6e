"""Shared by the server benchmarks: a `runner server` subprocess on 127.0.0.1 with a local bare
git repository as the forge and signed GitHub webhooks (from :mod:`runner.testing`), and direct
Docker runs for the floors.

Everything the benchmarks create carries the label ``pipeline-runner.bench=<run id>`` and is
removed at the end, whatever happens.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
import requests

from runner.testing import LocalRepo, ServerProcess, finished, github_push

BUSYBOX = "runner-test/busybox"
LABEL = "pipeline-runner.bench"
SLUG = "bench/app"
POLL_EVERY = 0.25  # seconds between looks at the build list while waiting


class BenchServer(ServerProcess):
    """A server with its embedded agent, one repository and helpers; use as a context manager,
    which also removes the run's containers and the temporary directory."""

    def __init__(self, *, capacity: int = 2, extra_env: dict[str, str] | None = None):
        self.run_id = uuid.uuid4().hex[:8]
        self.root = Path(tempfile.mkdtemp(prefix="runner-bench-"))
        super().__init__(
            self.root / "data",
            admin_password="bench-admin-password",
            capacity=capacity,
            agent_name=f"bench-{self.run_id}",
            engine_labels=f"{LABEL}={self.run_id}",
            extra_env=extra_env,
        )
        self.docker = docker.from_env()
        # API calls carry an admin token; webhooks go out through ``http``, without one.
        self.session = requests.Session()
        self.secret = ""
        self.sha = ""
        self.repo: LocalRepo | None = None

    def __enter__(self) -> BenchServer:
        try:
            self.start()
            self.session.headers["Authorization"] = f"Bearer {self.token('admin')}"
            self.repo = LocalRepo(self.root)
            resp = self.session.post(
                self.url + "/api/v1/repos",
                json={"slug": SLUG, "forge": "github", "clone_url": self.repo.clone_url},
                timeout=30,
            )
            resp.raise_for_status()
            self.secret = resp.json()["webhook_secret"]
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def commit(self, pipeline: str) -> str:
        """Commit ``pipeline`` as ``.drone.yml`` and push it to main; the sha."""
        self.sha = self.repo.commit({".drone.yml": pipeline}, "bench")
        return self.sha

    def webhook(self) -> float:
        """Send a signed push webhook for the last commit; returns when it was accepted."""
        headers, body = github_push(SLUG, self.repo, self.sha, self.secret, message="bench")
        resp = self.post_hook(SLUG, headers, body)
        accepted = time.time()
        if resp.status_code not in (200, 201):
            raise RuntimeError(f"webhook refused: {resp.status_code} {resp.text}")
        return accepted

    def builds(self) -> list[dict]:
        """The repository's builds, newest first (without stages)."""
        return self.session.get(
            self.url + f"/api/v1/repos/{SLUG}/builds", params={"per_page": 100}, timeout=30
        ).json()

    def wait_all(self, count: int, timeout: float = 600) -> list[dict]:
        """Wait until ``count`` builds exist and are all finished; returns them (full).

        The figures come from the server's own ``finished`` stamps, so how often this looks
        changes none of them; looking only a few times a second keeps the benchmark's own
        API calls from taking the CPU the measured builds need.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = self.builds()
            if len(listed) >= count and all(finished(b) for b in listed):
                return [self.full_build(b["number"]) for b in listed]
            time.sleep(POLL_EVERY)
        raise RuntimeError(f"builds not finished within {timeout}s")

    def full_build(self, number: int) -> dict:
        """Build ``number`` with its stages and steps."""
        return self.session.get(
            self.url + f"/api/v1/repos/{SLUG}/builds/{number}", timeout=30
        ).json()

    def worker_pid(self) -> int:
        """The gunicorn worker (serving requests and running the embedded agent)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return int(children.split()[0])

    def close(self) -> None:
        """Stop the server, remove the run's Docker objects and the temporary directory."""
        self.stop()
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
