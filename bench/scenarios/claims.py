"""Claims per second with 20 simulated agents polling (target ≥ 200/s, no double claim), and
the server's memory with 50 connected idle agents.

A `runner server` subprocess (SQLite, no embedded agent) gets 1,000 queued stages (50 builds of
20 stages, written straight into its database). 20 threads, each with its own agent token,
claim in a loop (long-poll timeout 0) until the queue is empty; the figure is stages claimed per
second of wall time, and every stage id must come back exactly once. The floor is the same
number of trivial authenticated HTTP calls from 20 threads. Then 50 agents hold a long-poll open
at once and the server's resident memory is read before and during.
"""

from __future__ import annotations

import threading
import time

import requests

from bench.scenarios.dispatch_latency import FleetServer, claim

AGENTS = 20
BUILDS = 50
STAGES_PER_BUILD = 20
IDLE_AGENTS = 50
TARGET_PER_S = 200.0


def queue_stages(stores, repo_id: int, builds: int, per_build: int) -> int:
    """Queue ``builds`` builds of ``per_build`` one-step stages straight in the database (no
    webhook, no pipeline file); how many stages."""
    from runner.core import Build
    from runner.pipeline.spec import CloneSpec, StageSpec, StepSpec
    from runner.store import stage_from_spec

    step = StepSpec(name="s", image="runner-test/busybox", commands=["true"])
    for _ in range(builds):
        stages = [
            stage_from_spec(StageSpec(name=f"s{i}", clone=CloneSpec(disable=True), steps=[step]))
            for i in range(per_build)
        ]
        stores.builds.create(Build(id=0, repo_id=repo_id, number=0, event="custom", stages=stages))
    return builds * per_build


def _queue(server: FleetServer, repo_slug: str) -> int:
    from runner.server.services import open_stores
    from runner.settings import load_settings

    stores = open_stores(load_settings({"data_dir": server.env["RUNNER_DATA_DIR"]}, environ={}))
    try:
        return queue_stages(stores, stores.repos.find(repo_slug).id, BUILDS, STAGES_PER_BUILD)
    finally:
        stores.db.dispose()


def _hammer(url: str, token: str, claimed: list[int], lock: threading.Lock) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    while True:
        resp = session.post(url + "/rpc/v1/claim", json={"timeout": 0}, timeout=60)
        if resp.status_code == 204:
            return
        resp.raise_for_status()
        with lock:
            claimed.append(resp.json()["stage"]["id"])


def _floor(url: str, token: str, calls: int) -> float:
    per_thread = calls // AGENTS

    def worker():
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        for _ in range(per_thread):
            session.get(url + "/api/v1/user", timeout=30)

    threads = [threading.Thread(target=worker) for _ in range(AGENTS)]
    begun = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per_thread * AGENTS / (time.perf_counter() - begun)


def run() -> dict:
    with FleetServer(threads=IDLE_AGENTS + 16) as server:
        slug = server.add_repo()
        queued = _queue(server, slug)
        # A simulated agent claims without finishing: it is registered to hold what it takes.
        tokens = [
            server.agent_token(f"sim-{i}", capacity=queued) for i in range(max(AGENTS, IDLE_AGENTS))
        ]
        claimed: list[int] = []
        lock = threading.Lock()
        threads = [
            threading.Thread(target=_hammer, args=(server.url, tokens[i], claimed, lock))
            for i in range(AGENTS)
        ]
        begun = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - begun
        rate = len(claimed) / elapsed
        floor = _floor(server.url, server.admin, queued)

        rss_idle_server = server.rss_kib()
        idle = [
            threading.Thread(target=claim, args=(server.url, tokens[i], 20), daemon=True)
            for i in range(IDLE_AGENTS)
        ]
        for t in idle:
            t.start()
        time.sleep(3)  # every long-poll is open and parked on the server
        rss_with_agents = server.rss_kib()
        for t in idle:
            t.join(40)
        return {
            "scenario": "claims",
            "agents": AGENTS,
            "stages_queued": queued,
            "stages_claimed": len(claimed),
            "double_claims": len(claimed) - len(set(claimed)),
            "claims_per_s": round(rate, 1),
            "floor_http_calls_per_s": round(floor, 1),
            "ratio": round(rate / floor, 2),
            "server_rss_mib_no_agents": round(rss_idle_server / 1024, 1),
            "server_rss_mib_50_idle_agents": round(rss_with_agents / 1024, 1),
            "target": f">= {TARGET_PER_S:.0f} claims/s, no double claim, none lost",
            "met": rate >= TARGET_PER_S and len(claimed) == len(set(claimed)) == queued,
        }
