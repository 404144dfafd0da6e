"""3-step trivial build, webhook → finished, as a ratio to the same 3 containers run directly
(≤ 1.10).

A `runner server` subprocess with its embedded agent receives a signed GitHub push webhook for a
pipeline of three busybox steps (clone disabled); the time runs from just before the webhook is
sent to the build's ``finished`` stamp. The floor, measured in the same run, creates, starts,
waits for and removes the same three containers one after the other with the docker SDK.
``REPEAT`` alternating pairs; ``ratio`` is the median of the pairs' build / floor ratios (each
pair runs back to back, so a slower or faster spell of the engine touches both), with
``ratio_of_medians`` and the median absolute ``overhead_ms`` beside it.
"""

from __future__ import annotations

import statistics
import time

from bench.scenarios._server import BUSYBOX, BenchServer, run_direct

REPEAT = 7
COMMANDS = ["echo one", "echo two", "echo three"]
PIPELINE = "kind: pipeline\nname: trivial\nclone:\n  disable: true\nsteps:\n" + "".join(
    f"- name: s{i}\n  image: {BUSYBOX}\n  commands:\n  - {cmd}\n" for i, cmd in enumerate(COMMANDS)
)


def run() -> dict:
    builds, floors = [], []
    with BenchServer(capacity=1) as server:
        server.commit(PIPELINE)
        for i in range(REPEAT):
            begun = time.time()
            server.webhook()
            build = server.wait_all(i + 1)[0]
            if build["status"] != "success":
                raise RuntimeError(f"bench build failed: {build['status']} {build['error']}")
            builds.append(build["finished"] - begun)
            begun = time.perf_counter()
            run_direct(server.docker.api, [f"/bin/sh -c '{c}'" for c in COMMANDS], server.run_id)
            floors.append(time.perf_counter() - begun)
    build_s = statistics.median(builds)
    floor_s = statistics.median(floors)
    ratio = statistics.median(b / f for b, f in zip(builds, floors, strict=True))
    return {
        "scenario": "trigger-to-finish",
        "runs": REPEAT,
        "build_s": round(build_s, 3),
        "floor_s": round(floor_s, 3),
        "overhead_ms": round(
            statistics.median(b - f for b, f in zip(builds, floors, strict=True)) * 1000
        ),
        "ratio": round(ratio, 3),
        "ratio_of_medians": round(build_s / floor_s, 3),
        "target": "ratio <= 1.10",
        "ok": ratio <= 1.10,
    }
