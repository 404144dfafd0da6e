"""What ``runner exec`` learns before compiling: the pipeline file(s), the build context from
the git working tree, secrets and variables given on the command line."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import git

from runner.errors import BadRequest
from runner.pipeline.lookup import PIPELINE_FILE_ORDER, select_pipeline_files
from runner.pipeline.spec import BuildContext


def find_pipeline_files(directory: Path) -> list[Path]:
    """The pipeline file(s) of ``directory`` by the lookup order; ``BadRequest`` when none."""
    names = [p.name for p in directory.iterdir() if p.is_file()]
    folder = directory / ".woodpecker"
    if folder.is_dir():
        names += [f".woodpecker/{p.name}" for p in folder.iterdir() if p.is_file()]
    found = select_pipeline_files(names)
    if not found:
        tried = ", ".join(PIPELINE_FILE_ORDER)
        raise BadRequest(f"no pipeline file in {directory} (looked for {tried}); pass FILE")
    return [directory / name for name in found]


def parse_pairs(pairs: tuple[str, ...] | list[str], what: str) -> dict[str, str]:
    """``NAME=VALUE`` items into a dict; ``BadRequest`` naming the bad item."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BadRequest(f"{what} {pair!r} is not NAME=VALUE")
        out[name.strip()] = value
    return out


def read_secrets_file(path: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, blank lines and ``export`` allowed; values may be
    quoted; ``\\n`` in a double-quoted value is a newline, for multi-line secrets)."""
    out: dict[str, str] = {}
    text = Path(path).read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"^export\s+", "", line)
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise BadRequest(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n")
        out[name.strip()] = value
    return out


def repo_slug(remote_url: str, directory: Path) -> str:
    """``owner/name`` from a remote URL (https, ssh or path), else ``local/<dir name>``."""
    match = re.search(r"[:/]([^/:]+)/([^/]+?)(?:\.git)?/?$", remote_url or "")
    if match:
        return f"{match.group(1)}/{match.group(2)}"
    return f"local/{directory.resolve().name}"


def context_from_git(directory: Path) -> BuildContext:
    """A push context filled from the git working tree at ``directory`` when there is one:
    commit, branch, message, author, remote URL; defaults otherwise."""
    # No server: the build has no page, so DRONE_BUILD_LINK and CI_PIPELINE_URL are empty.
    ctx = BuildContext(event="push", created=int(time.time()), trusted=False, server_url="")
    try:
        repo = git.Repo(directory, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        ctx.repo = repo_slug("", directory)
        return ctx
    try:
        head = repo.head.commit
        ctx.commit = head.hexsha
        message = head.message  # GitPython gives bytes for a commit in an undecodable encoding
        ctx.message = (
            message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        ).strip()
        ctx.author = head.author.name or ""
        ctx.author_email = head.author.email or ""
        ctx.created = head.committed_date
        ctx.before = head.parents[0].hexsha if head.parents else ""
    except ValueError:  # a repository without commits yet
        pass
    if not repo.head.is_detached:
        ctx.branch = repo.active_branch.name
        ctx.ref = f"refs/heads/{ctx.branch}"
    try:
        ctx.remote_url = repo.remotes.origin.url
    except (AttributeError, IndexError):
        ctx.remote_url = ""
    ctx.repo = repo_slug(ctx.remote_url, Path(repo.working_tree_dir or directory))
    return ctx


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``10m``, ``1h30m`` into seconds; ``BadRequest`` otherwise."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or not parts:
        raise BadRequest(f"timeout {text!r} is not a duration like 90, 90s, 10m or 1h")
    h, m, s = (int(p or 0) for p in parts.groups())
    return h * 3600 + m * 60 + s


def apply_options(ctx: BuildContext, **options) -> BuildContext:
    """Command-line options over the git context (``None`` and empty values are ignored)."""
    for name, value in options.items():
        if value not in (None, ""):
            setattr(ctx, name, value)
    if options.get("tag") and not options.get("ref"):
        ctx.ref = f"refs/tags/{ctx.tag}"
        if not options.get("event"):
            ctx.event = "tag"
    if options.get("ref") and ctx.ref.startswith("refs/heads/") and not options.get("branch"):
        ctx.branch = ctx.ref[len("refs/heads/") :]
    return ctx


def current_dir() -> Path:
    return Path(os.getcwd())
