"""Fixtures of the CLI tests: a real `runner server` on a port of its own (no embedded agent, a
public address of its own), and a workstation that runs the real `runner` command in a
subprocess with an empty HOME and no ``RUNNER_*`` settings at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.testing import ADMIN_PASSWORD, LocalRepo, ServerProcess

# What the server says forges must call: the CLI must print this, not a guess of its own.
PUBLIC_URL = "https://ci.example.com"
LOGIN_FILE = Path(".config/pipeline-runner/login.json")


class Workstation:
    """A person's machine: ``home`` (empty at first), a clean environment, `runner` run as a
    subprocess from ``home``."""

    def __init__(self, home: Path, **env: str):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "LANG": "C.UTF-8",
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
            **env,
        }

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        """``runner ARGS``; the finished process, whatever its exit code."""
        return subprocess.run(
            [sys.executable, "-m", "runner", *args],
            env=self.env,
            cwd=self.home,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str, input: str | None = None) -> str:
        """``runner ARGS``, which must exit 0; its standard output."""
        done = self.run(*args, input=input)
        assert done.returncode == 0, f"runner {' '.join(args)}: {done.stderr}{done.stdout}"
        return done.stdout

    def fails(self, *args: str, input: str | None = None) -> str:
        """``runner ARGS``, which must exit non-zero without a traceback; its error output."""
        done = self.run(*args, input=input)
        assert done.returncode != 0, f"runner {' '.join(args)} passed: {done.stdout}"
        assert "Traceback" not in done.stderr, done.stderr
        return done.stderr

    def login(self, server: ServerProcess, password: str = ADMIN_PASSWORD) -> str:
        """`runner login` as admin with the password on standard input; its output."""
        return self.ok(
            "login", "--server", server.url, "-u", "admin", "--password-stdin", input=password
        )

    def files(self) -> list[Path]:
        """Every file under ``home``, relative to it."""
        return sorted(p.relative_to(self.home) for p in self.home.rglob("*") if not p.is_dir())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("cli-server") / "data"
    proc = ServerProcess(data, embedded_agent=False, extra_env={"RUNNER_SERVER_URL": PUBLIC_URL})
    with proc:
        yield proc


@pytest.fixture(scope="module")
def admin(server, tmp_path_factory):
    """A workstation logged in to ``server`` as admin with `runner login`."""
    station = Workstation(tmp_path_factory.mktemp("admin-home"))
    station.login(server)
    return station


@pytest.fixture
def origin(tmp_path):
    """A local git 'forge' whose main branch holds a pipeline file."""
    repo = LocalRepo(tmp_path / "git")
    repo.commit({".drone.yml": PIPELINE})
    return repo


PIPELINE = """\
kind: pipeline
name: default
steps:
- name: hello
  image: runner-test/busybox
  commands: [echo hello]
"""
