"""A burst of 50 webhooks for 3-step builds with agent capacity 2, as a ratio to the same 150
containers run directly two at a time (≤ 1.2).

The 50 signed GitHub push webhooks are sent back to back to a `runner server` subprocess whose
embedded agent runs two stages at a time; the time runs from the first webhook to the last
build's ``finished`` stamp. The floor, measured in the same run, runs the same 150 containers
(create, start, wait, remove) with the docker SDK from two threads.
"""

from __future__ import annotations

import threading
import time

from bench.scenarios._server import BUSYBOX, BenchServer, run_direct

BUILDS = 50
CAPACITY = 2
COMMANDS = ["echo one", "echo two", "echo three"]
PIPELINE = "kind: pipeline\nname: burst\nclone:\n  disable: true\nsteps:\n" + "".join(
    f"- name: s{i}\n  image: {BUSYBOX}\n  commands:\n  - {cmd}\n" for i, cmd in enumerate(COMMANDS)
)


def _floor(server) -> float:
    work = [c for _ in range(BUILDS) for c in COMMANDS]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not work:
                    return
                command = work.pop()
            run_direct(server.docker.api, [command], server.run_id)

    threads = [threading.Thread(target=worker) for _ in range(CAPACITY)]
    begun = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - begun


def run() -> dict:
    with BenchServer(capacity=CAPACITY) as server:
        server.commit(PIPELINE)
        begun = time.time()
        accepted = [server.webhook() for _ in range(BUILDS)]
        builds = server.wait_all(BUILDS, timeout=900)
        failed = [b["number"] for b in builds if b["status"] != "success"]
        if failed:
            raise RuntimeError(f"bench builds failed: {failed}")
        burst_s = max(b["finished"] for b in builds) - begun
        floor_s = _floor(server)
    return {
        "scenario": "burst-50",
        "builds": BUILDS,
        "capacity": CAPACITY,
        "webhooks_sent_s": round(accepted[-1] - begun, 3),
        "burst_s": round(burst_s, 3),
        "floor_s": round(floor_s, 3),
        "ratio": round(burst_s / floor_s, 3),
        "target": "ratio <= 1.2",
        "ok": burst_s / floor_s <= 1.2,
    }
