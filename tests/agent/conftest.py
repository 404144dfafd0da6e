"""Fixtures of the agent tests: a real local bare git repository served over file://."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with a fixed identity; return its stdout."""
    cmd = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args]
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def bare_repo(tmp_path):
    """A bare repository with three commits on ``main`` and tag ``v1.0.0`` on the second.

    Returns ``(url, shas)`` with ``shas`` oldest first.
    """
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    shas = []
    for i in (1, 2, 3):
        (work / f"file{i}.txt").write_text(f"content {i}\n")
        if i == 1:
            (work / ".pipeline.yml").write_text("steps:\n  - name: a\n    image: busybox\n")
        git(work, "add", ".")
        git(work, "commit", "-q", "-m", f"commit {i}")
        shas.append(git(work, "rev-parse", "HEAD"))
        if i == 2:
            git(work, "tag", "v1.0.0")
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare.as_uri(), shas
