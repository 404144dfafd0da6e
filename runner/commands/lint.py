"""``runner lint [FILE...]``: check pipeline files and print every problem."""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO

import click

from runner.pipeline.lint import lint_files
from runner.pipeline.lookup import select_pipeline_files
from runner.settings import load_settings


def _files_of_directory(root: str) -> list[str]:
    """The pipeline files of ``root`` by the lookup order (``.woodpecker/`` one level)."""
    paths = [n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n))]
    folder = os.path.join(root, ".woodpecker")
    if os.path.isdir(folder):
        paths += [f".woodpecker/{n}" for n in os.listdir(folder)]
    return [os.path.join(root, p) if root != "." else p for p in select_pipeline_files(paths)]


def run_lint(
    paths: list[str],
    *,
    trusted: bool,
    privileged_images: list[str],
    fmt: str,
    out: TextIO | None = None,
) -> int:
    """Lint ``paths`` (or the current directory's pipeline files); print; return the exit code.

    0: no errors (warnings are printed), 1: errors, 2: no file to lint or unreadable file.
    """
    out = out or sys.stdout
    if not paths:
        paths = _files_of_directory(".")
        if not paths:
            click.echo(
                "no pipeline file here: looked for .pipeline.yml, .drone.yml, .woodpecker/*.yml, "
                ".woodpecker.yml (and .yaml); name one: runner lint FILE",
                err=True,
            )
            return 2
    files: dict[str, str] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                files[path] = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"{path}: cannot read: {exc}", err=True)
            return 2
    issues = lint_files(files, trusted=trusted, privileged_images=privileged_images)
    errors = sum(1 for i in issues if i.blocking)
    if fmt == "json":
        payload = {
            "files": list(files),
            "errors": errors,
            "warnings": len(issues) - errors,
            "issues": [i.to_dict() for i in issues],
        }
        out.write(json.dumps(payload, indent=2) + "\n")
    else:
        for issue in issues:
            out.write(issue.format() + "\n")
        summary = f"{len(files)} file(s): {errors} error(s), {len(issues) - errors} warning(s)"
        click.echo(summary, err=True)
    return 1 if errors else 0


def register(group: click.Group) -> None:
    """Add ``lint`` to the ``runner`` command group."""

    @group.command("lint")
    @click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
    @click.option("--trusted", is_flag=True, help="lint as a trusted repository")
    @click.option(
        "--privileged-image",
        "privileged_images",
        multiple=True,
        help="an image allowed the Docker socket and privileged mode (repeatable; "
        "default: the agent's agent_privileged_images setting)",
    )
    def lint(
        files: tuple[str, ...], fmt: str, trusted: bool, privileged_images: tuple[str, ...]
    ) -> None:
        """Check pipeline files; with no FILE, the pipeline files of this directory.

        Prints file:line: level: field: message for every problem; exits 1 on errors,
        0 with warnings only.
        """
        images = list(privileged_images) or load_settings().agent_privileged_images
        code = run_lint(list(files), trusted=trusted, privileged_images=images, fmt=fmt)
        sys.exit(code)
