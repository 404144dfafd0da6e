"""What ``runner exec`` and ``runner plan`` learn before compiling: the pipeline file(s), the
build context from the git working tree, secrets and variables given on the command line.

The build-context options of both commands are defined once here (``context_options``) and read
once (``read_inputs``), so the plan a user prints is compiled for the build ``runner exec`` runs.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
import git

from runner.errors import BadRequest
from runner.pipeline.lookup import PIPELINE_FILE_ORDER, select_pipeline_files
from runner.pipeline.spec import BuildContext
from runner.pipeline.trust import DEFAULT_PRIVILEGED_IMAGES

F = TypeVar("F", bound=Callable[..., Any])

EVENTS = ("push", "tag", "pull_request", "promote", "cron", "rollback", "custom")


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


def apply_options(ctx: BuildContext, **options: str | None) -> BuildContext:
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
    """The directory the command runs in."""
    return Path(os.getcwd())


# The build-context options shared by ``runner exec`` and ``runner plan``, in help order.
_CONTEXT_OPTIONS: list[Callable[[F], F]] = [
    click.option("--event", type=click.Choice(EVENTS), help="build event"),
    click.option("--branch", help="branch (default: the checked-out branch)"),
    click.option("--tag", help="tag (implies --event tag)"),
    click.option("--ref", help="git ref, e.g. refs/heads/main"),
    click.option("--commit", help="commit sha (default: HEAD)"),
    click.option("--target", help="deploy target / environment (promote)"),
    click.option("--repo", help="repository as owner/name (default: from the git remote)"),
    click.option(
        "--config-revision",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="CI_CONFIG_REVISION/DRONE_CONFIG_REVISION, as the server would number this file "
        "(0: none)",
    ),
    click.option(
        "--secret",
        "secret_pairs",
        multiple=True,
        metavar="NAME=VALUE",
        help="a secret for from_secret, and for ${NAME} in a Drone 0.8 file (repeatable)",
    ),
    click.option(
        "--secrets-file",
        type=click.Path(exists=True, dir_okay=False),
        help="KEY=VALUE lines of secrets",
    ),
    click.option(
        "--env",
        "env_pairs",
        multiple=True,
        metavar="K=V",
        help="a variable for every step (repeatable)",
    ),
    click.option("--trusted", is_flag=True, help="allow docker.sock, privileged, host volumes"),
    click.option(
        "--privileged-image",
        "privileged_images",
        multiple=True,
        metavar="IMAGE",
        help="an image allowed the docker socket and privileged mode (repeatable; default: "
        "Drone's privileged plugins and pipeline-runner/docker)",
    ),
]


def context_options(command: F) -> F:
    """Add the build-context options (``--event`` ... ``--privileged-image``) to a command."""
    for option in reversed(_CONTEXT_OPTIONS):
        command = option(command)
    return command


@dataclass
class BuildInputs:
    """What the build-context options and the working tree say: the context, the secrets and
    agent globals given, and the images allowed privileges."""

    ctx: BuildContext
    secrets: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    privileged_images: list[str] = field(default_factory=list)


def read_inputs(directory: Path, options: dict[str, Any]) -> BuildInputs:
    """The ``BuildInputs`` of ``context_options``' values (missing ones are not given): the git
    context of ``directory`` with the options over it. Raises ``BadRequest`` for a malformed
    ``--secret``/``--env``, ``OSError`` for an unreadable secrets file."""
    ctx = apply_options(
        context_from_git(directory),
        event=options.get("event"),
        branch=options.get("branch"),
        tag=options.get("tag"),
        ref=options.get("ref"),
        commit=options.get("commit"),
        target=options.get("target"),
        repo=options.get("repo"),
    )
    ctx.trusted = bool(options.get("trusted"))
    # No server numbers the file here: 0, as for a pull request's new file, unless given.
    ctx.config_revision = int(options.get("config_revision") or 0)
    secrets: dict[str, str] = {}
    if options.get("secrets_file"):
        secrets.update(read_secrets_file(options["secrets_file"]))
    secrets.update(parse_pairs(options.get("secret_pairs") or (), "--secret"))
    return BuildInputs(
        ctx=ctx,
        secrets=secrets,
        environ=parse_pairs(options.get("env_pairs") or (), "--env"),
        # As drone exec's --privileged: Drone's privileged plugins unless images are named.
        privileged_images=list(options.get("privileged_images") or DEFAULT_PRIVILEGED_IMAGES),
    )
