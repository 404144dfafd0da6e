"""Jsonnet and Starlark pipeline files, converted to the YAML every other file is, as Drone does.

Drone picks a converter by the extension of the repository's configuration path
(drone/drone ``plugin/converter/jsonnet.go`` and ``starlark.go``, ``Convert``): ``.jsonnet``
is Jsonnet; ``.star``, ``.starlark`` and ``.script`` are Starlark. The converter turns the file
into a multi-document Drone 1.x file; substitution, parsing, linting and compiling then work on
that text exactly as on a ``.drone.yml``.

The file comes from whoever can push, and both languages can loop or allocate without bound,
so each file is evaluated by ``runner.pipeline.configlang_eval`` in a process of its own,
under the budgets of ``runner.pipeline.limits`` (input size, output size, CPU time, wall time,
address space). A file that fails, or hits a budget, raises ``PipelineError`` (a
``BudgetExceeded`` for a budget) naming the file and, where the interpreter says, the line.
"""

from __future__ import annotations

import json
import os
import posixpath
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import runner
from runner.errors import PipelineError
from runner.pipeline import limits
from runner.pipeline.spec import BuildContext

LANGUAGES = {
    ".jsonnet": "jsonnet",
    ".star": "starlark",
    ".starlark": "starlark",
    ".script": "starlark",
}
"""The configuration languages by file extension, as Drone chooses its converter."""


def script_language(file: str) -> str:
    """``jsonnet`` or ``starlark`` for a file Drone would convert, ``""`` for YAML."""
    ext = posixpath.splitext(file.replace("\\", "/"))[1].lower()
    return LANGUAGES.get(ext, "")


def generated_name(file: str) -> str:
    """The name the YAML generated from ``file`` is read under, so that a problem found in it
    says its line is one of the generated text, not of the script."""
    return f"{file} (generated YAML)"


def drone_build(ctx: BuildContext) -> dict[str, Any]:
    """``ctx.build`` of a Starlark file (Jsonnet: the ``build.*`` external variables), with the
    fields of drone/drone ``plugin/converter/starlark/args.go`` (``fromBuild``). As in Drone's
    webhook parser, ``branch``/``target`` are the target branch (the tag name for a tag),
    ``source`` the source branch, ``commit``/``after`` the commit, and ``title`` the pull
    request's title (empty for other events)."""
    pull = ctx.event == "pull_request"
    target = ctx.tag if ctx.event == "tag" and ctx.tag else (ctx.target_branch or ctx.branch)
    source = ctx.tag if ctx.event == "tag" and ctx.tag else (ctx.source_branch or ctx.branch)
    return {
        "event": ctx.event,
        "action": ctx.action,
        "cron": ctx.cron,
        "environment": ctx.target,
        "link": ctx.link,
        "branch": target,
        "source": source,
        "before": ctx.before,
        "after": ctx.commit,
        "target": target,
        "ref": ctx.ref,
        "commit": ctx.commit,
        "title": ctx.title if pull else "",
        "message": ctx.message,
        "source_repo": ctx.repo if pull else "",
        "author_login": ctx.author,
        "author_name": ctx.author,
        "author_email": ctx.author_email,
        "author_avatar": ctx.author_avatar,
        "sender": ctx.sender,
        "debug": False,
        "params": dict(ctx.params),
    }


def drone_repo(ctx: BuildContext) -> dict[str, Any]:
    """``ctx.repo`` of a Starlark file (Jsonnet: ``repo.*``), with the fields of drone/drone
    ``plugin/converter/starlark/args.go`` (``fromRepo``); ``link`` is the repository's web
    page when its clone URL is an HTTP one."""
    namespace, _, name = ctx.repo.rpartition("/")
    url = ctx.remote_url
    return {
        "uid": "",
        "name": name,
        "namespace": namespace,
        "slug": ctx.repo,
        "git_http_url": url if urlsplit(url).scheme in ("http", "https") else "",
        "git_ssh_url": url if url.startswith(("ssh://", "git@")) else "",
        "link": _web_page(url),
        "branch": ctx.default_branch,
        "config": "",
        "private": ctx.private,
        "visibility": "private" if ctx.private else "public",
        "active": True,
        "trusted": ctx.trusted,
        "protected": False,
        "ignore_forks": False,
        "ignore_pull_requests": False,
    }


def convert_script(file: str, text: str, ctx: BuildContext) -> str:
    """The YAML documents the Jsonnet or Starlark ``file`` evaluates to for the build ``ctx``.

    Blocks until the evaluation process ends (at most ``limits.SCRIPT_WALL_SECONDS``). Raises
    ``BudgetExceeded`` for a file over a budget and ``PipelineError`` for one that does not
    evaluate to pipeline documents, with the file and, where known, the line.
    """
    limits.check_file_size(len(text.encode("utf-8")), file)
    language = script_language(file)
    repo = drone_repo(ctx)
    repo["config"] = file
    request = {
        "language": language,
        "file": file,
        "source": text,
        "build": drone_build(ctx),
        "repo": repo,
        "memory_bytes": limits.SCRIPT_MEMORY_BYTES,
        "cpu_seconds": limits.SCRIPT_CPU_SECONDS,
        "output_bytes": limits.MAX_FILE_BYTES,
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runner.pipeline.configlang_eval"],
            env=_child_environment(),
            input=json.dumps(request),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=limits.SCRIPT_WALL_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _time_budget(file, language, limits.SCRIPT_WALL_SECONDS, "seconds") from None
    except OSError as exc:
        raise PipelineError(f"cannot start the {language} evaluation: {exc}", file=file) from None
    return _answer(file, language, done)


def _child_environment() -> dict[str, str]:
    """This process's environment, with the folder this ``runner`` package was imported from
    first on the path, so the child runs the same code whatever the install."""
    root = str(Path(runner.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, path) if p)}


def _answer(file: str, language: str, done: subprocess.CompletedProcess[str]) -> str:
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise _time_budget(file, language, limits.SCRIPT_CPU_SECONDS, "CPU seconds")
    if done.returncode != 0 or not done.stdout:
        if any(sign in done.stderr for sign in _OUT_OF_MEMORY):
            raise _memory_budget(file, language)
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PipelineError(f"{language}: the evaluation failed: {last}", file=file)
    answer = json.loads(done.stdout)
    if answer.get("budget") == "memory":
        raise _memory_budget(file, language)
    if answer.get("budget") == "output":
        raise limits.over_budget(
            f"{language}: the file evaluates to {answer['size']} bytes",
            limits.MAX_FILE_BYTES,
            "bytes per pipeline file",
            file=file,
            fix="return fewer or smaller pipelines",
        )
    if "error" in answer:
        raise PipelineError(answer["error"], file=file, line=int(answer.get("line") or 0))
    return str(answer["text"])


_OUT_OF_MEMORY = ("out of memory", "MemoryError", "memory allocation error")
"""How the Go runtime, Python and the C++ Jsonnet library say they ran out of memory."""


def _time_budget(file: str, language: str, limit: int | float, unit: str) -> PipelineError:
    return limits.over_budget(
        f"{language}: the evaluation did not end",
        int(limit),
        unit,
        file=file,
        fix="look for a loop that does not end or a computation far too large",
    )


def _memory_budget(file: str, language: str) -> PipelineError:
    return limits.over_budget(
        f"{language}: the evaluation ran out of memory",
        limits.SCRIPT_MEMORY_BYTES,
        "bytes of memory",
        file=file,
        fix="build smaller values",
    )


def _web_page(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    path = parts.path[:-4] if parts.path.endswith(".git") else parts.path
    return f"{parts.scheme}://{host}{path}"
