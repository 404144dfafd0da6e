"""Idle memory of each process of a server (with its embedded agent) and of a remote agent.

A `runner server` subprocess (SQLite, embedded agent) is started, serves one page and one API
call, then idles; the resident memory (VmRSS) and proportional share (Pss, shared pages divided
among the processes that map them) of every process of its tree are read after it settled. A
remote `runner agent` connected to it is read the same way. The floor is a bare interpreter of
the same Python, idle, measured in the same run: what no Python process here can go under.
Targets: a server process ≤ 80 MiB, an agent ≤ 40 MiB.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from bench.scenarios._server import BenchServer
from runner.testing import AgentProcess

SETTLE_SECONDS = 8.0
SERVER_TARGET_MIB = 80
AGENT_TARGET_MIB = 40


def _memory_mib(pid: int) -> tuple[float, float]:
    """``(VmRSS, Pss)`` of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    pss = int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1))  # type: ignore[union-attr]
    return round(rss / 1024, 1), round(pss / 1024, 1)


def _tree(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    found = [pid]
    for child in children.stdout.split():
        found += _tree(int(child))
    return found


def _role(pid: int, root: int) -> str:
    command = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    if pid == root:
        return "arbiter"
    if "resource_tracker" in command:
        return "resource-tracker"
    if "multiprocessing" in command:
        return "pipeline-reader"
    return "worker" if "runner server" in command else command[:40]


def _bare_interpreter_mib() -> float:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; print(1, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    try:
        proc.stdout.readline()  # type: ignore[union-attr]
        return _memory_mib(proc.pid)[0]
    finally:
        proc.kill()
        proc.wait()


def run() -> dict:
    floor = _bare_interpreter_mib()
    with BenchServer() as server:
        server.session.get(server.url + "/api/v1/user", timeout=30).raise_for_status()
        server.session.get(server.url + "/login", timeout=30).raise_for_status()
        agent = AgentProcess(server, server.root / "agent", "bench-idle-agent", capacity=1)
        agent.start()
        try:
            time.sleep(SETTLE_SECONDS)
            processes = {}
            for pid in _tree(server.proc.pid):
                rss, pss = _memory_mib(pid)
                processes[_role(pid, server.proc.pid)] = {"rss_mib": rss, "pss_mib": pss}
            # The agent's own process (``runner agent``), not the shell around it, if any.
            agent_pid = _tree(agent.proc.pid)[-1]  # type: ignore[union-attr]
            agent_rss, agent_pss = _memory_mib(agent_pid)
        finally:
            agent.stop()
    worker = processes.get("worker", {}).get("rss_mib", 0.0)
    return {
        "scenario": "idle-rss",
        "floor_bare_python_mib": floor,
        "server_processes": processes,
        "server_worker_rss_mib": worker,
        "server_total_pss_mib": round(sum(p["pss_mib"] for p in processes.values()), 1),
        "agent_rss_mib": agent_rss,
        "agent_pss_mib": agent_pss,
        "ratio": round(worker / floor, 2),
        "met": worker <= SERVER_TARGET_MIB and agent_rss <= AGENT_TARGET_MIB,
        "target": f"server process <= {SERVER_TARGET_MIB} MiB, agent <= {AGENT_TARGET_MIB} MiB",
    }
