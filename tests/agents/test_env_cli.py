"""`runner env ls|add|set|rm` against a real server's API, validated there like a pipeline
file's `environments:` declaration."""

from __future__ import annotations

import subprocess
import sys

from runner.testing import ServerProcess


def test_env_commands_manage_a_repositorys_environments(tmp_path):
    with ServerProcess(tmp_path / "data", embedded_agent=False) as server:
        server.cli("repo", "add", "acme/app", "--clone-url", "file:///x")
        server.cli(
            "env", "add", "acme/app", "production", "--tags", "v*", "--labels", "env=production",
            "--approval", "--lock",
        )  # fmt: skip
        server.cli("env", "add", "acme/app", "test", "--branches", "develop")
        server.cli("env", "set", "acme/app", "production", "--no-lock")
        assert server.cli("env", "ls", "acme/app").splitlines() == [
            "production\ttags v*; labels env=production; approval",
            "test\tbranches develop",
        ]
        refused = run(server, "env", "add", "acme/app", "staging", "--events", "deploy")
        assert refused.returncode == 1 and "unknown event 'deploy'" in refused.stderr
        assert "removed" in server.cli("env", "rm", "acme/app", "test")
        gone = run(server, "env", "rm", "acme/app", "test")
        assert gone.returncode == 1 and "no environment 'test'" in gone.stderr


def run(server: ServerProcess, *args: str) -> subprocess.CompletedProcess:
    """``runner ARGS`` with the server's environment; the finished process (not checked)."""
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
