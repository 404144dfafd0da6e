"""The bare mirror fetches a real local repository, reads files at a commit and exports trees."""

from __future__ import annotations

import subprocess
import threading

import pytest

from runner.errors import EngineError, NotFound
from runner.gitmirror import Mirror


def git(cwd, *args: str) -> str:
    cmd = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args]
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_update_then_read_files_at_a_commit(bare_repo, tmp_path):
    url, shas = bare_repo
    mirror = Mirror(tmp_path / "cache", url)
    assert mirror.update(commit=shas[0]) == shas[0]
    assert sorted(mirror.list_files(shas[0])) == [".pipeline.yml", "file1.txt"]
    assert mirror.read_file(shas[0], ".pipeline.yml").startswith("steps:\n")
    assert mirror.read_file(shas[2], "file3.txt") == "content 3\n"
    assert mirror.update(ref="refs/heads/main") == shas[2]
    assert mirror.update() == shas[2]  # HEAD follows the remote's default branch
    assert mirror.resolve("v1.0.0") == shas[1]


def test_a_new_cache_directory_is_readable_by_its_owner_only(bare_repo, tmp_path):
    url, shas = bare_repo
    Mirror(tmp_path / "cache", url).update(commit=shas[0])
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700


def test_unknown_path_commit_and_remote_are_clear_errors(bare_repo, tmp_path):
    url, shas = bare_repo
    mirror = Mirror(tmp_path / "cache", url)
    mirror.update()
    with pytest.raises(NotFound, match="nope.yml not found"):
        mirror.read_file(shas[0], "nope.yml")
    with pytest.raises(NotFound, match="not found"):
        mirror.update(commit="0" * 40)
    with pytest.raises(EngineError, match="fetch"):
        Mirror(tmp_path / "cache", (tmp_path / "missing.git").as_uri()).update()


def test_export_honours_depth_and_checks_out_the_commit(bare_repo, tmp_path):
    url, shas = bare_repo
    mirror = Mirror(tmp_path / "cache", url)
    mirror.update(commit=shas[2])
    dest = tmp_path / "ws"
    mirror.export(shas[1], dest, depth=1)
    assert sorted(p.name for p in dest.iterdir()) == [
        ".git",
        ".pipeline.yml",
        "file1.txt",
        "file2.txt",
    ]
    log = subprocess.run(
        ["git", "log", "--format=%H"], cwd=dest, capture_output=True, text=True, check=True
    ).stdout.split()
    assert log == [shas[1]]
    full = tmp_path / "full"
    mirror.export(shas[2], full, tags=True, branch="main")
    log = subprocess.run(
        ["git", "log", "--format=%H"], cwd=full, capture_output=True, text=True, check=True
    ).stdout.split()
    assert log == shas[::-1]
    tags = subprocess.run(["git", "tag"], cwd=full, capture_output=True, text=True).stdout
    assert tags.split() == ["v1.0.0"]


def test_concurrent_updates_share_one_mirror(bare_repo, tmp_path):
    url, shas = bare_repo
    results, errors = [], []

    def worker():
        try:
            results.append(Mirror(tmp_path / "cache", url).update(commit=shas[2]))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [shas[2]] * 4


def test_export_initialises_submodules(bare_repo, tmp_path, monkeypatch):
    # Local file:// submodules are refused by git's default protocol policy; real remotes
    # (https, ssh) are not, so the test allows the file protocol for its own processes.
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "protocol.file.allow")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "always")
    lib_url, _ = bare_repo
    app = tmp_path / "app"
    app.mkdir()
    git(app, "init", "-q", "-b", "main")
    git(app, "submodule", "add", "-q", lib_url, "lib")
    git(app, "commit", "-q", "-m", "add lib")
    bare = tmp_path / "app.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(app), str(bare)], check=True)
    mirror = Mirror(tmp_path / "cache", bare.as_uri())
    sha = mirror.update()
    dest = tmp_path / "ws"
    mirror.export(sha, dest, submodules=True, trusted=True)
    assert (dest / "lib" / "file3.txt").read_text() == "content 3\n"
    plain = tmp_path / "plain"
    mirror.export(sha, plain)
    assert not (plain / "lib" / "file3.txt").exists()


def test_a_commit_already_mirrored_needs_no_remote(bare_repo, tmp_path):
    url, shas = bare_repo
    mirror = Mirror(tmp_path / "cache", url)
    assert mirror.update(commit=shas[2]) == shas[2]
    # The remote goes away: what the mirror holds is still served, without a fetch.
    subprocess.run(["rm", "-rf", url.removeprefix("file://")], check=True)
    again = Mirror(tmp_path / "cache", url)
    assert again.update(commit=shas[1]) == shas[1]
    assert again.read_file(shas[1], "file2.txt") == "content 2\n"
    assert again.resolve("HEAD") == shas[2]  # set from the remote when the mirror was new
