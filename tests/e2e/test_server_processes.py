"""The server's gunicorn arbiter stays a small process: it forks and watches the worker and holds
the data directory's lock, and loads no database, web or Docker library (they would stay in
its memory for the server's life; docs/server.md "Idle memory")."""

from __future__ import annotations

import subprocess
from pathlib import Path

from runner.testing import ServerProcess

# Compiled modules of libraries only the worker needs: a mapped one means it was imported.
WORKER_ONLY = ("sqlalchemy", "cryptography", "pydantic_core", "markupsafe", "re2")


def test_the_arbiter_loads_no_library_of_the_worker(tmp_path):
    server = ServerProcess(tmp_path / "data", embedded_agent=False)
    server.start()
    try:
        arbiter = server.proc.pid
        children = subprocess.run(
            ["pgrep", "-P", str(arbiter)], capture_output=True, text=True
        ).stdout.split()
        assert children, "no worker"
        maps = Path(f"/proc/{arbiter}/maps").read_text()
        loaded = sorted({name for name in WORKER_ONLY if f"/{name}" in maps})
        assert loaded == [], f"the arbiter loaded {loaded}"
        worker_maps = Path(f"/proc/{children[0]}/maps").read_text()
        assert "/sqlalchemy" in worker_maps  # the check sees what a process loaded
    finally:
        server.stop()
