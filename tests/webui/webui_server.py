"""The web UI acceptance tests' real `runner server` (embedded agent, Docker), built on
:mod:`runner.testing` with this suite's admin password and agent name."""

from __future__ import annotations

import uuid
from pathlib import Path

from runner import testing

ADMIN_PASSWORD = "admin-pass-1"


class ServerProcess(testing.ServerProcess):
    """`runner server` with its own data directory and port; restartable on the same ones."""

    def __init__(self, data_dir: Path):
        super().__init__(
            data_dir, admin_password=ADMIN_PASSWORD, agent_name=f"webui-{uuid.uuid4().hex[:8]}"
        )

    # The acceptance tests' name: ``wait(slug, number, token, check, timeout)``.
    wait = testing.ServerProcess.wait_build
