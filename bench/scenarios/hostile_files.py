"""Hostile pipeline files: error-build latency against an ordinary file's error, API meanwhile.

A `runner server` subprocess with its embedded agent receives signed GitHub push webhooks for
pipeline files that are over a budget (a 7-axis matrix, a recursive alias, YAML 500 deep, 330
nested ``${A:-…}``, a 20 MB file, 5,000 steps) and for the catastrophic regular expression of
Woodpecker's ``evaluate``. Each webhook is answered once its build exists, so the webhook's
round trip is the time to the ``error`` build. The floor, measured in the same run, is the same
round trip for an ordinary file with a YAML syntax error; ``ratio`` = median hostile / median
floor, per file. Meanwhile a thread asks ``GET /api/v1/user`` every 20 ms; its median and
slowest answers are compared with the same calls on an idle server (``api_ratio``). The
server's memory growth over the run is read from /proc. Target: every ratio ≤ 10 and the API
never slower than 1 s, the memory growth < 50 MB.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import requests

from bench.scenarios._server import BUSYBOX, SLUG, BenchServer

REPEAT = 3
STEP = "- name: s{i}\n  image: " + BUSYBOX + "\n  commands: [echo {i}]\n"
HEAD = "kind: pipeline\nname: default\n"


def drone(steps: int = 1, before: str = "") -> str:
    return HEAD + before + "steps:\n" + "".join(STEP.format(i=i) for i in range(steps))


WOODPECKER = (
    "steps:\n  a:\n    image: " + BUSYBOX + "\n    commands: [echo a]\n"
    '    when:\n      evaluate: \'"aaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" matches "^(a+)+$"\'\n'
    "  b:\n    image: " + BUSYBOX + "\n    commands: [echo b]\n"
)
FLOOR = (".drone.yml", HEAD + "steps: [\n")
FILES = {
    "matrix-7-axes": (
        ".woodpecker.yml",
        "matrix:\n"
        + "".join(f"  A{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n" for i in range(7))
        + WOODPECKER,
    ),
    "recursive-alias": (".drone.yml", drone(before="x: &a [*a]\n")),
    "yaml-500-deep": (".drone.yml", drone(before="x: " + "[" * 500 + "]" * 500 + "\n")),
    "substitution-330-deep": (
        ".drone.yml",
        drone() + "  environment:\n    X: " + "${A:-" * 330 + "x" + "}" * 330 + "\n",
    ),
    "file-20-MB": (".drone.yml", drone() + ("# " + "x" * 1022 + "\n") * (20 * 1024)),
    "steps-5000": (".drone.yml", drone(5000)),
    # not an error: RE2 answers at once, the step is left out and the build runs
    "catastrophic-regex": (".woodpecker.yml", WOODPECKER),
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class ApiPoller:
    """``GET /api/v1/user`` every 20 ms from a thread; the answer times in seconds."""

    def __init__(self, server: BenchServer):
        self.url = server.url + "/api/v1/user"
        self.headers = dict(server.session.headers)
        self.times: list[float] = []
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with requests.Session() as http:
            while not self._stop.is_set():
                begun = time.perf_counter()
                try:
                    http.get(self.url, headers=self.headers, timeout=10).raise_for_status()
                    self.times.append(time.perf_counter() - begun)
                except requests.RequestException:
                    self.failed += 1
                self._stop.wait(0.02)

    def __enter__(self) -> ApiPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(15)


def push(server: BenchServer, name: str, text: str) -> float:
    """Commit ``name`` as the only pipeline file, send the webhook; its round trip."""
    for other in (".drone.yml", ".woodpecker.yml"):
        path = server.repo.work / other
        if other != name and path.exists():
            path.unlink()
    server.sha = server.repo.commit({name: text}, "bench")
    begun = time.perf_counter()
    server.webhook()
    return time.perf_counter() - begun


def run() -> dict:
    with BenchServer(capacity=1) as server:
        server.commit("kind: pipeline\nsteps: [\n")
        server.webhook()  # warm-up: every module that reads pipelines is loaded
        pid = server.worker_pid()
        with ApiPoller(server) as idle:
            time.sleep(2)
        rss_before = rss_mb(pid)
        floors = [push(server, *FLOOR) for _ in range(REPEAT)]
        figures: dict[str, float] = {}
        busy = ApiPoller(server)
        with busy:
            for case, (name, text) in FILES.items():
                figures[case] = statistics.median(push(server, name, text) for _ in range(REPEAT))
        rss_after = rss_mb(pid)
        builds = server.builds()
        server.wait_all(len(builds))
        errors = sum(1 for b in builds if b["status"] == "error")
    floor = statistics.median(floors)
    idle_median = statistics.median(idle.times)
    ratios = {case: round(value / floor, 2) for case, value in figures.items()}
    busy_median = statistics.median(busy.times) if busy.times else float("inf")
    slowest = max(busy.times, default=float("inf"))
    grown = rss_after - rss_before
    return {
        "scenario": "hostile-files",
        "runs": REPEAT,
        "floor_ordinary_error_ms": round(floor * 1000, 1),
        "latency_ms": {case: round(value * 1000, 1) for case, value in figures.items()},
        "ratio": ratios,
        "error_builds": errors,
        "api_idle_median_ms": round(idle_median * 1000, 1),
        "api_busy_median_ms": round(busy_median * 1000, 1),
        "api_busy_slowest_ms": round(slowest * 1000, 1),
        "api_ratio": round(busy_median / idle_median, 2),
        "api_failed": busy.failed,
        "server_rss_growth_mb": round(grown, 1),
        "target": "every ratio <= 10, api_busy_slowest_ms < 1000, growth < 50 MB",
        "ok": max(ratios.values()) <= 10 and slowest < 1 and not busy.failed and grown < 50,
        "slug": SLUG,
    }
