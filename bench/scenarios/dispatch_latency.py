"""Time from a stage being queued to a waiting remote agent receiving it (target ≤ 100 ms).

A `runner server` subprocess (no embedded agent) and one simulated agent: a thread that holds a
long-poll ``POST /rpc/v1/claim`` open, as `runner agent` does. Each round creates a manual build
through the API; the latency runs from the stage's ``created`` stamp (written by the server in
the same transaction that queues it) to the moment the claim answer reaches the agent, both on
this machine's clock. The floor is one trivial HTTP round trip to the same server.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

from runner.testing import LocalRepo, ServerProcess

ROUNDS = 30
TARGET_MS = 100.0
PIPELINE = (
    "kind: pipeline\nname: quick\nclone:\n  disable: true\nsteps:\n"
    "- name: s\n  image: runner-test/busybox\n  commands: [true]\n"
)


class FleetServer(ServerProcess):
    """A `runner server` without embedded agent in a temporary directory, with an admin token
    (``admin``); a context manager that stops the server and removes the directory."""

    def __init__(self, *, threads: int = 64, lease_seconds: int = 60):
        self.root = Path(tempfile.mkdtemp(prefix="runner-bench-agents-"))
        super().__init__(
            self.root / "data",
            admin_password="bench-admin-password",
            embedded_agent=False,
            lease_seconds=lease_seconds,
            extra_env={"RUNNER_WORKERS_THREADS": str(threads)},
        )
        self.admin = ""

    def __enter__(self) -> FleetServer:
        try:
            self.start()
            self.admin = self.token("admin")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def agent_token(self, name: str, capacity: int = 1) -> str:
        """A new token of agent ``name``, registered to hold ``capacity`` stages at once."""
        return self.cli("user", "agent-token", name, "--capacity", str(capacity)).strip()

    def admin_api(self, method: str, path: str, **kwargs) -> requests.Response:
        """``METHOD /api/v1PATH`` as the admin; raises on an error answer."""
        resp = self.api(method, path, self.admin, **kwargs)
        resp.raise_for_status()
        return resp

    def add_repo(self, slug: str = "bench/app") -> str:
        """A repository whose forge is a local git repository holding ``PIPELINE``."""
        repo = LocalRepo(self.root / "forge")
        repo.commit({".drone.yml": PIPELINE})
        self.admin_api("POST", "/repos", json={"slug": slug, "clone_url": repo.clone_url})
        return slug

    def rss_kib(self) -> int:
        """Resident memory of the server's process tree (gunicorn arbiter and worker)."""
        pids = [self.proc.pid]
        children = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
        ).stdout.split()
        pids += [int(p) for p in children]
        total = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total


def claim(url: str, token: str, wait: float) -> requests.Response:
    return requests.post(
        url + "/rpc/v1/claim",
        json={"timeout": wait},
        headers={"Authorization": f"Bearer {token}"},
        timeout=wait + 30,
    )


def _wait_for_stage(url: str, token: str, got: dict, ready: threading.Event) -> None:
    """One simulated agent's long-poll; records when the answer arrived and what it held."""
    ready.set()
    resp = claim(url, token, 30)
    got["at"] = time.time()
    got["payload"] = resp.json()


def run() -> dict:
    with FleetServer() as server:
        slug = server.add_repo()
        token = server.agent_token("bench-agent")
        session = requests.Session()
        floor = []
        for _ in range(ROUNDS):
            begun = time.perf_counter()
            session.get(server.url + "/api/v1/user", timeout=10)
            floor.append((time.perf_counter() - begun) * 1000)
        latencies = []
        for _ in range(ROUNDS):
            got: dict = {}
            ready = threading.Event()

            thread = threading.Thread(target=_wait_for_stage, args=(server.url, token, got, ready))
            thread.start()
            ready.wait()
            time.sleep(0.2)  # the long-poll is open and waiting on the server
            build = server.admin_api("POST", f"/repos/{slug}/builds", json={}).json()
            thread.join(60)
            stage = build["stages"][0]
            assert got["payload"]["stage"]["id"] == stage["id"]
            latencies.append((got["at"] - stage["created"]) * 1000)
            requests.post(
                f"{server.url}/rpc/v1/stages/{stage['id']}/done",
                json={"status": "success"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
        latencies.sort()
        median = statistics.median(latencies)
        return {
            "scenario": "dispatch-latency",
            "rounds": ROUNDS,
            "median_ms": round(median, 1),
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 1),
            "max_ms": round(latencies[-1], 1),
            "floor_http_round_trip_ms": round(statistics.median(floor), 1),
            "ratio": round(median / max(statistics.median(floor), 0.001), 1),
            "target": f"median <= {TARGET_MS:.0f} ms",
            "met": median <= TARGET_MS,
        }
