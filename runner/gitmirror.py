"""A bare mirror of one git repository, kept in a cache directory and shared by builds.

The server reads pipeline files at a commit through it (``list_files``/``read_file``); the agent
fills a stage workspace from it (``export``). Fetches of one repository are serialised by a
thread lock and a file lock (``fcntl``), so several threads and processes may share a cache
directory. Reads need no lock: objects in a git repository are never rewritten.

Errors: ``runner.errors.EngineError`` when the remote cannot be fetched, ``NotFound`` for an
unknown commit or path. Credentials in the URL never appear in an error or a log line.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import git

from runner.errors import EngineError, NotFound
from runner.git_urls import (
    UNTRUSTED_GIT_PROTOCOLS,
    redact_url,
    resolve_submodule_url,
    submodule_refusal,
)

Say = Callable[[str], None]  # where a git command and its output are echoed, line by line

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()

# Mirror every branch and tag; pull request heads arrive through an explicit ``ref``.
_REFSPECS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
_SHA = re.compile(r"^[0-9a-f]{40}$")
# Submodules of submodules are followed this deep, no deeper.
SUBMODULE_DEPTH = 5
# What ``clone: skip_verify`` sets for the git processes that reach the remote, as Drone's
# clone step does (drone-runner-docker, engine/compiler/clone.go, ``cloneParams``).
NO_TLS_VERIFY = {"GIT_SSL_NO_VERIFY": "true"}


def mirror_dir_name(url: str) -> str:
    """A stable directory name for ``url``: readable tail plus a hash against collisions."""
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", url.rstrip("/").split("/")[-1])[:40] or "repo"
    return f"{tail}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def _thread_lock(path: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def _git_error(action: str, url: str, exc: Exception) -> EngineError:
    detail = getattr(exc, "stderr", "") or str(exc)
    detail = redact_url(" ".join(str(detail).split()))
    return EngineError(
        f"git {action} of {redact_url(url)} failed: {detail}; check the URL and credentials"
    )


def _run_git(cwd: Path, args: list[str], say: Say, env: dict[str, str] | None = None) -> None:
    """Run ``git ARGS`` in ``cwd``, echoing it and its output to ``say`` (credentials hidden);
    ``EngineError`` when it fails."""
    say(redact_url("+ git " + " ".join(args)))
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env} if env else None,
    )
    for line in (proc.stdout + proc.stderr).splitlines():
        say(redact_url(line))
    if proc.returncode:
        raise EngineError(
            f"git {args[0]} failed in the workspace ({proc.returncode}): "
            f"{redact_url(proc.stderr.strip()[:300])}"
        )


class Mirror:
    """The bare mirror of ``url`` under ``cache_dir``.

    Thread-safe. ``update`` must have fetched a commit before ``list_files``, ``read_file`` or
    ``export`` are asked about it.
    """

    def __init__(self, cache_dir: str | os.PathLike[str], url: str):
        self.url = url
        self.path = Path(cache_dir).expanduser() / mirror_dir_name(url)
        # Full shas already verified in this mirror: objects are never removed, so a sha once
        # found needs no second ``rev-parse`` (one git process less per read).
        self._known: set[str] = set()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with _thread_lock(str(self.path)):
            # Mirrors hold private code: the cache directory is the owner's alone.
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(str(self.path) + ".lock", "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    def _repo(self) -> git.Repo:
        if not (self.path / "HEAD").exists():
            repo = git.Repo.init(self.path, bare=True)
            repo.git.config("remote.origin.url", self.url)
            return repo
        return git.Repo(self.path)

    def has_commit(self, commit: str) -> bool:
        """True when ``commit`` (a sha or a ref name) is already in the mirror."""
        return self._present(commit) is not None

    def _present(self, commit: str) -> str | None:
        """The full sha of ``commit`` when the mirror has it, else None (no lock needed)."""
        if commit in self._known:
            return commit
        if not (self.path / "HEAD").exists():
            return None
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode:
            return None
        sha = proc.stdout.strip()
        if sha == commit:
            self._known.add(sha)
        return sha

    def update(
        self, commit: str | None = None, ref: str | None = None, *, skip_verify: bool = False
    ) -> str:
        """Fetch branches and tags (and ``ref``, e.g. ``refs/pull/7/head``) from the remote.

        When ``commit`` is already present nothing is fetched, and no lock is taken: one git
        process answers. The remote's default branch (``ls-remote``) is only asked for when
        the mirror is new or ``HEAD`` itself is wanted. Returns the resolved commit sha
        (``commit``, else ``ref``'s tip, else HEAD). ``skip_verify`` fetches without checking
        the remote's TLS certificate (``clone: skip_verify``). Raises ``EngineError`` when the fetch
        fails and ``NotFound`` when the commit is not in the remote.
        """
        if commit:
            sha = self._present(commit)
            if sha is not None:
                return sha
        env = NO_TLS_VERIFY if skip_verify else {}
        with self._locked():
            new = not (self.path / "HEAD").exists()
            repo = self._repo()
            if not (commit and self.has_commit(commit)):
                specs = list(_REFSPECS)
                if ref and not ref.startswith(("refs/heads/", "refs/tags/")):
                    specs.append(f"+{ref}:{ref}")
                try:
                    repo.git.fetch("--prune", "--quiet", self.url, *specs, env=env)
                except git.GitCommandError as exc:
                    raise _git_error("fetch", self.url, exc) from exc
                if commit and _SHA.match(commit) and not self.has_commit(commit):
                    try:  # a commit no branch points at any more (force push): ask for it
                        repo.git.fetch("--quiet", self.url, commit, env=env)
                    except git.GitCommandError:
                        pass
                if new or not (commit or ref):
                    self._set_head(repo, env)
            target = commit or ref or "HEAD"
            try:
                return str(repo.git.rev_parse("--verify", f"{target}^{{commit}}"))
            except git.GitCommandError as exc:
                raise NotFound(
                    f"commit {target} not found in {redact_url(self.url)}; was it pushed?"
                ) from exc

    def _set_head(self, repo: git.Repo, env: dict[str, str]) -> None:
        """Point the mirror's HEAD at the remote's default branch so ``HEAD`` resolves."""
        try:
            out = str(repo.git.ls_remote("--symref", self.url, "HEAD", env=env))
        except git.GitCommandError:
            return
        match = re.search(r"^ref: (refs/heads/\S+)\s+HEAD", out, re.M)
        if match:
            repo.git.symbolic_ref("HEAD", match.group(1))

    def resolve(self, commit: str) -> str:
        """The full sha of ``commit`` (sha, branch or tag); ``NotFound`` when unknown."""
        sha = self._present(commit)
        if sha is None:
            raise NotFound(f"commit {commit} not found in the mirror of {redact_url(self.url)}")
        return sha

    def list_files(self, commit: str) -> list[str]:
        """Every file path (``/``-separated, relative) in the tree of ``commit``."""
        sha = self.resolve(commit)
        out = git.Repo(self.path).git.ls_tree("-r", "--name-only", "-z", sha)
        return [p for p in out.split("\0") if p]

    def file_size(self, commit: str, path: str) -> int:
        """The size in bytes of ``path`` at ``commit``, without reading it; ``NotFound``."""
        sha = self.resolve(commit)
        try:
            return int(git.Repo(self.path).git.cat_file("-s", f"{sha}:{path}"))
        except git.GitCommandError as exc:
            raise NotFound(f"{path} not found at commit {sha[:10]} of {self.url}") from exc

    def read_file(self, commit: str, path: str) -> str:
        """The text (UTF-8) of ``path`` at ``commit``; ``NotFound`` when it is not there."""
        sha = self.resolve(commit)
        try:
            return str(git.Repo(self.path).git.show(f"{sha}:{path}", strip_newline_in_stdout=False))
        except git.GitCommandError as exc:
            raise NotFound(
                f"{path} not found at commit {sha[:10]} of {redact_url(self.url)}"
            ) from exc

    def export(
        self,
        commit: str,
        dest_dir: str | os.PathLike[str],
        *,
        depth: int = 0,
        tags: bool = False,
        submodules: bool = False,
        branch: str = "",
        trusted: bool = False,
        skip_verify: bool = False,
        log: Say | None = None,
    ) -> str:
        """Make ``dest_dir`` a git working copy of ``commit`` fetched from this mirror.

        ``depth`` > 0 gives a shallow history of that many commits; ``tags`` fetches tags;
        ``submodules`` initialises them (from their own remotes, relative URLs resolved against
        the repository's). Unless ``trusted``, a submodule must be on the repository's own host
        and reached over the network (``runner.git_urls.submodule_refusal``): a refused one
        is said in ``log`` and raises ``EngineError``; ``skip_verify`` fetches them without
        checking TLS certificates. ``origin`` points at the repository's
        real URL. ``log`` receives progress lines. Returns the checked-out sha.
        """
        sha = self.resolve(commit)
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        say = log or (lambda _line: None)

        def run(*args: str) -> None:
            _run_git(dest, list(args), say)

        run("init", "--quiet")
        run("remote", "add", "origin", self.url)
        fetch = ["fetch", "--quiet", "--tags" if tags else "--no-tags"]
        if depth > 0:
            fetch.append(f"--depth={depth}")
        run(*fetch, self.path.resolve().as_uri(), sha)
        if branch:
            run("checkout", "--quiet", "-B", branch, sha)
        else:
            run("checkout", "--quiet", "--detach", sha)
        if submodules:
            verify = NO_TLS_VERIFY if skip_verify else {}
            _update_submodules(dest, self.url, self.url, trusted, say, SUBMODULE_DEPTH, verify)
        return sha


def _submodule_urls(work: Path) -> list[tuple[str, str]]:
    """``(name, url)`` of each submodule declared in ``work/.gitmodules``."""
    if not (work / ".gitmodules").is_file():
        return []
    proc = subprocess.run(
        ["git", "config", "-f", ".gitmodules", "--get-regexp", r"^submodule\..*\.url$"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    found = []
    for line in proc.stdout.splitlines():
        key, _, url = line.partition(" ")
        found.append((key[len("submodule.") : -len(".url")], url))
    return found


def _update_submodules(
    work: Path,
    base_url: str,
    repo_url: str,
    trusted: bool,
    say: Say,
    depth_left: int,
    verify: dict[str, str],
) -> None:
    """Check, then fetch, the submodules of the working copy ``work`` (URL ``base_url``), and
    theirs, ``depth_left`` levels deep. Each URL is checked before git sees it."""
    declared = _submodule_urls(work)
    if not declared:
        return
    if depth_left <= 0:
        raise EngineError(f"submodules nested deeper than {SUBMODULE_DEPTH} levels")
    resolved = {}
    for name, url in declared:
        absolute = resolve_submodule_url(url, base_url)
        why = submodule_refusal(absolute, repo_url, trusted)
        if why:
            say(f"clone refused: {why}")
            raise EngineError(why)
        resolved[name] = absolute
    _run_git(work, ["submodule", "init"], say)
    for name, url in resolved.items():
        # The URL checked above, not what ``submodule init`` worked out on its own.
        _run_git(work, ["config", f"submodule.{name}.url", url], lambda _line: None)
    env = dict(verify) if trusted else {**verify, "GIT_ALLOW_PROTOCOL": UNTRUSTED_GIT_PROTOCOLS}
    _run_git(work, ["submodule", "update"], say, env or None)
    for name, url in resolved.items():
        proc = subprocess.run(
            ["git", "config", "-f", ".gitmodules", f"submodule.{name}.path"],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        path = proc.stdout.strip()
        if path and (work / path).is_dir():
            _update_submodules(work / path, url, repo_url, trusted, say, depth_left - 1, verify)
