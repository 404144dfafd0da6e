"""The build context as a tar archive: the context folder minus ``.dockerignore`` matches,
plus the Dockerfile when it lives outside the context."""

from __future__ import annotations

import os
import re
import tarfile
import tempfile
from typing import IO


def read_dockerignore(context: str) -> list[tuple[bool, str]]:
    """``(negated, pattern)`` pairs of ``.dockerignore``, in file order (the last match wins)."""
    path = os.path.join(context, ".dockerignore")
    if not os.path.isfile(path):
        return []
    rules = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip().lstrip("/"))
            rules.append((negated, pattern))
    return rules


def pattern_regex(pattern: str) -> re.Pattern:
    """A ``.dockerignore`` pattern as Docker reads it: ``*`` and ``?`` stay within one path
    segment, ``**`` spans any number of segments, and a match also covers what a folder holds."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i)
            if end == -1:
                out.append(re.escape(char))
            else:
                out.append(pattern[i : end + 1].replace("[!", "[^"))
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + "(?:/.*)?$")


def ignored(relpath: str, rules: list[tuple[bool, str]]) -> bool:
    """Whether a context-relative path is excluded; the last matching rule decides."""
    result = False
    for negated, pattern in rules:
        if pattern_regex(pattern).match(relpath):
            result = not negated
    return result


def context_tar(context: str, dockerfile: str) -> tuple[IO[bytes], str, int]:
    """Write the context to a temporary tar file.

    Returns ``(file positioned at 0, dockerfile path inside the archive, size in bytes)``.
    The caller closes the file. Raises ``FileNotFoundError`` for a missing context/Dockerfile.
    """
    if not os.path.isdir(context):
        raise FileNotFoundError(f"build context {context!r} is not a folder of the workspace")
    if not os.path.isfile(dockerfile):
        raise FileNotFoundError(
            f"Dockerfile {dockerfile!r} not found: set 'dockerfile' relative to the workspace"
        )
    rules = read_dockerignore(context)
    out = tempfile.TemporaryFile()
    inner_dockerfile = os.path.relpath(dockerfile, context)
    with tarfile.open(fileobj=out, mode="w") as tar:
        for root, dirs, files in os.walk(context):
            rel_root = os.path.relpath(root, context)
            for name in sorted(dirs + files):
                full = os.path.join(root, name)
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if rules and ignored(rel, rules) and rel != inner_dockerfile:
                    if name in dirs:
                        dirs.remove(name)
                    continue
                tar.add(full, arcname=rel, recursive=False)
        if inner_dockerfile.startswith(".."):
            inner_dockerfile = ".pipeline-runner.Dockerfile"
            tar.add(dockerfile, arcname=inner_dockerfile)
    size = out.tell()
    out.seek(0)
    return out, inner_dockerfile, size
