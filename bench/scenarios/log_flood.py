"""One step printing 6,000,000 lines (~47 MB): wall time until finished with the whole log
stored (≤ 3 s beyond the same container writing to /dev/null), bytes the database holds for the
log (≤ a third of it), server peak RSS while storing and after serving it back (≤ 150 MiB),
raw log download (≤ 1 s).

A `runner server` subprocess with its embedded agent runs a one-step pipeline ``seq 1 6000000``
(clone disabled) from a signed GitHub push webhook; the wall time runs from just before the
webhook to the build's ``finished`` stamp (the step is reported finished only after its last
chunk is stored). Then the raw log is downloaded and checked (bytes and line count). The
server's peak RSS is the gunicorn worker's ``VmHWM`` (it serves the API and RPC and runs the
embedded agent), read once the log is stored and again after the download. The stored bytes
are the lengths of the log's chunks as the SQLite file holds them, read from that file. The
floor runs ``seq 1 6000000 > /dev/null`` in the same image directly.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bench.scenarios._server import SLUG, BenchServer, run_direct

LINES = 6_000_000
COMMAND = f"seq 1 {LINES}"
PIPELINE = f"""\
kind: pipeline
name: flood
clone:
  disable: true
steps:
- name: flood
  image: runner-test/busybox
  commands:
  - {COMMAND}
"""


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _stored_log_bytes(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT sum(length(data)) FROM log_chunks").fetchone()[0] or 0)


def run() -> dict:
    return flood()


def flood(extra_env: dict[str, str] | None = None, *, wait_moved=None) -> dict:
    """The scenario on a server with ``extra_env``; ``wait_moved(server)``, when given, runs
    once the build has finished and before the log is read back (its result is returned as
    ``moved``), and the stored bytes are read after it."""
    expected = sum(len(str(i)) + 1 for i in range(1, LINES + 1)) + len(f"+ {COMMAND}\n")
    moved = None
    with BenchServer(capacity=1, extra_env=extra_env) as server:
        server.commit(PIPELINE)
        begun = time.time()
        server.webhook()
        build = server.wait_all(1, timeout=600)[0]
        wall_s = build["finished"] - begun
        peak_mb = _peak_rss_mb(server.worker_pid())
        if wait_moved is not None:
            moved = wait_moved(server)
        stored = _stored_log_bytes(server.data_dir / "runner.db")
        step = build["stages"][0]["steps"][-1]
        url = f"{server.url}/api/v1/repos/{SLUG}/builds/{build['number']}/logs/1/{step['number']}"
        started = time.perf_counter()
        size = lines = 0
        with server.session.get(url, stream=True, timeout=120) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_content(1 << 20):
                size += len(chunk)
                lines += chunk.count(b"\n")
        download_s = time.perf_counter() - started
        serving_peak_mb = _peak_rss_mb(server.worker_pid())
        started = time.perf_counter()
        run_direct(server.docker.api, [f"{COMMAND} > /dev/null"], server.run_id)
        floor_s = time.perf_counter() - started
    return {
        "scenario": "log-flood",
        "status": build["status"],
        "lines": LINES,
        "log_bytes_expected": expected,
        "log_bytes_downloaded": size,
        "log_lines_downloaded": lines,
        "wall_s": round(wall_s, 3),
        "floor_s": round(floor_s, 3),
        "beyond_floor_s": round(wall_s - floor_s, 3),
        "stored_bytes": stored,
        "stored_ratio": round(stored / expected, 3),
        "server_peak_rss_mb": round(peak_mb, 1),
        "server_peak_rss_serving_mb": round(serving_peak_mb, 1),
        "download_s": round(download_s, 3),
        "moved": moved,
        "target": (
            "beyond_floor_s <= 3, stored_ratio <= 1/3, server peak RSS <= 150 MiB storing and "
            "serving, download_s <= 1"
        ),
        "ok": wall_s - floor_s <= 3
        and stored * 3 <= expected
        and max(peak_mb, serving_peak_mb) <= 150
        and download_s <= 1
        and size == expected,
    }
