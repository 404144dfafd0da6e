"""Helpers of the `runner db` tests: the command in a subprocess, and everything a server
shows of a repository's builds."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from runner.testing import ServerProcess


def runner(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``runner ARGS`` with ``env``; the finished process, whatever its exit code."""
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def refused(env: dict[str, str], *args: str) -> str:
    """``runner ARGS``, which must fail with a message and no traceback; the message."""
    done = runner(env, *args)
    assert done.returncode != 0, f"runner {' '.join(args)} passed: {done.stdout}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr


def passed(env: dict[str, str], *args: str) -> str:
    """``runner ARGS``, which must exit 0; its standard output."""
    done = runner(env, *args)
    assert done.returncode == 0, f"runner {' '.join(args)}: {done.stderr}"
    return done.stdout


def step_log(
    server: ServerProcess, token: str, slug: str, number: int, stage: int, step: int
) -> str:
    """The whole log of one step, as the API serves it."""
    resp = server.api("GET", f"/repos/{slug}/builds/{number}/logs/{stage}/{step}", token)
    assert resp.status_code == 200, f"log of #{number} {stage}/{step}: {resp.status_code}"
    return resp.text


def snapshot(server: ServerProcess, token: str, slug: str) -> dict[int, dict[str, Any]]:
    """Every build of ``slug``: its status, and each step's status and log lines."""
    resp = server.api("GET", f"/repos/{slug}/builds", token)
    assert resp.status_code == 200, resp.text
    builds: dict[int, dict[str, Any]] = {}
    for listed in resp.json():
        number = listed["number"]
        build = server.build(slug, number, token)
        steps = {}
        for stage in build["stages"]:
            for step in stage["steps"]:
                log = step_log(server, token, slug, number, stage["number"], step["number"])
                steps[step["name"]] = {"status": step["status"], "log": log.splitlines()}
        builds[number] = {"status": build["status"], "steps": steps}
    return builds
