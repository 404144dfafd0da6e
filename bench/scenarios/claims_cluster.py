"""Claims per second and dispatch latency on PostgreSQL with one and with three server processes
(issue target: >= 1,000 claims/s with three, dispatch p99 <= 50 ms).

A PostgreSQL server is started for the run (``runner.testing.postgres_server``). For each
shape, one and three `runner server` processes (no embedded agents) share a fresh database:

- claims: 2,000 stages are queued straight into the database; 20 simulated agents (threads,
  each with its own agent token, spread over the processes) claim with no wait until the queue
  is empty. Every stage id must come back exactly once.
- dispatch: a simulated agent holds a long-poll on one process while a build is made through
  the API of another (the only one, with one process); the latency runs from the stage's
  ``created`` stamp to the moment the claim answer arrives (30 rounds; p50 and p99).

The floor is the same number of trivial authenticated HTTP calls from 20 threads to the same
processes, measured in the same run.
"""

from __future__ import annotations

import secrets
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.scenarios.claims import queue_stages
from runner.testing import LocalRepo, ServerProcess, postgres_server

AGENTS = 20
BUILDS, STAGES_PER_BUILD = 100, 20
ROUNDS = 30
SLUG = "bench/app"
PIPELINE = (
    "kind: pipeline\nname: quick\nclone:\n  disable: true\nsteps:\n"
    "- name: s\n  image: runner-test/busybox\n  commands: [true]\n"
)


def _start(root: Path, url: str, count: int) -> list[ServerProcess]:
    key = secrets.token_urlsafe(32)
    servers = [
        ServerProcess(
            root / f"s{i}",
            admin_password="bench-admin-password",
            embedded_agent=False,
            database_url=url,
            lease_seconds=3600,
            extra_env={"RUNNER_SECRET_KEY": key, "RUNNER_WORKERS_THREADS": "64"},
        )
        for i in range(count)
    ]
    for server in servers:  # the first migrates and makes the admin
        server.start()
    return servers


def _queue(url: str, repo_id: int) -> int:
    from runner.store import Database, Stores

    db = Database(url)
    try:
        return queue_stages(Stores(db), repo_id, BUILDS, STAGES_PER_BUILD)
    finally:
        db.dispose()


def _agent_tokens(url: str, count: int, capacity: int) -> list[str]:
    from runner.services.agents import issue_agent_token, register_agent
    from runner.store import Database, Stores

    db = Database(url)
    try:
        stores = Stores(db)
        return [
            issue_agent_token(stores, register_agent(stores, f"sim-{i}", capacity=capacity))
            for i in range(count)
        ]
    finally:
        db.dispose()


def _in_threads(count: int, work) -> float:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    begun = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - begun


def _claims(servers: list[ServerProcess], tokens: list[str]) -> tuple[list[int], float]:
    claimed: list[int] = []
    lock = threading.Lock()

    def agent(i: int) -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {tokens[i]}"
        url = servers[i % len(servers)].url + "/rpc/v1/claim"
        while True:
            resp = http.post(url, json={"timeout": 0}, timeout=60)
            if resp.status_code == 204:
                return
            resp.raise_for_status()
            with lock:
                claimed.append(resp.json()["stage"]["id"])

    return claimed, _in_threads(len(tokens), agent)


def _floor(servers: list[ServerProcess], token: str, calls: int) -> float:
    per_thread = calls // AGENTS

    def caller(i: int) -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        for _ in range(per_thread):
            http.get(servers[i % len(servers)].url + "/api/v1/user", timeout=30)

    return per_thread * AGENTS / _in_threads(AGENTS, caller)


def _dispatch(servers: list[ServerProcess], admin: str, token: str) -> list[float]:
    latencies = []
    for round_ in range(ROUNDS):
        waiting_on = servers[round_ % len(servers)]
        made_on = servers[(round_ + 1) % len(servers)]
        got: dict = {}

        def long_poll(server: ServerProcess = waiting_on, into: dict = got) -> None:
            resp = requests.post(
                server.url + "/rpc/v1/claim",
                json={"timeout": 30},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            into["at"] = time.time()
            into["payload"] = resp.json()

        thread = threading.Thread(target=long_poll)
        thread.start()
        time.sleep(0.2)  # the long-poll is open and waiting on its server
        build = made_on.api("POST", f"/repos/{SLUG}/builds", admin, json={})
        build.raise_for_status()
        thread.join(60)
        stage = build.json()["stages"][0]
        assert got["payload"]["stage"]["id"] == stage["id"], got
        latencies.append((got["at"] - stage["created"]) * 1000)
        requests.post(
            f"{waiting_on.url}/rpc/v1/stages/{stage['id']}/done",
            json={"status": "success"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).raise_for_status()
    return sorted(latencies)


def _shape(pg, count: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="runner-bench-cluster-"))
    database = pg.create()
    servers: list[ServerProcess] = []
    try:
        url = pg.url(database)
        servers = _start(root, url, count)
        admin = servers[0].token("admin")
        repo = LocalRepo(root / "forge")
        repo.commit({".drone.yml": PIPELINE})
        made = servers[0].api(
            "POST", "/repos", admin, json={"slug": SLUG, "clone_url": repo.clone_url}
        )
        made.raise_for_status()
        queued = _queue(url, made.json()["id"])
        tokens = _agent_tokens(url, AGENTS + 1, capacity=queued + ROUNDS)
        claimed, took = _claims(servers, tokens[:AGENTS])
        floor = _floor(servers, admin, queued)
        latencies = _dispatch(servers, admin, tokens[AGENTS])
        return {
            "servers": count,
            "stages_queued": queued,
            "stages_claimed": len(claimed),
            "double_claims": len(claimed) - len(set(claimed)),
            "claims_per_s": round(len(claimed) / took, 1),
            "floor_http_calls_per_s": round(floor, 1),
            "claims_ratio": round(len(claimed) / took / floor, 2),
            "dispatch_p50_ms": round(statistics.median(latencies), 1),
            "dispatch_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        }
    finally:
        for server in reversed(servers):
            server.stop()
        pg.drop(database)
        shutil.rmtree(root, ignore_errors=True)


def run() -> dict:
    with postgres_server() as pg:
        one = _shape(pg, 1)
        three = _shape(pg, 3)
    return {
        "scenario": "claims-cluster",
        "one_server": one,
        "three_servers": three,
        "ratio": round(three["claims_per_s"] / max(one["claims_per_s"], 0.1), 2),
        "target": ">= 1000 claims/s with 3 servers, dispatch p99 <= 50 ms, no double claim",
        "met": three["claims_per_s"] >= 1000
        and three["dispatch_p99_ms"] <= 50
        and one["double_claims"] == three["double_claims"] == 0
        and three["stages_claimed"] == three["stages_queued"],
    }
