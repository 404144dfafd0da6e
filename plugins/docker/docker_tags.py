"""Which tags an image gets: the ``tags`` setting, ``auto_tag`` from the git tag's semver,
the commit-suffixed tag that lets a team find the commit of an image, and the version tag of a
``tag_scheme`` (``1.2.0-a64aded-r7``: version, commit and pipeline configuration revision)."""

from __future__ import annotations

import re

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$"
)
_BAD_TAG_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def sanitize_tag(text: str) -> str:
    """A string made into a valid image tag (``feature/x`` → ``feature-x``; at most 128)."""
    tag = _BAD_TAG_CHARS.sub("-", text.strip()).lstrip(".-")
    return tag[:128]


def semver_tags(git_tag: str) -> list[str] | None:
    """``v1.2.3`` → ``[1.2.3, 1.2, 1]``; ``v0.4.1`` → ``[0.4.1, 0.4]``; a pre-release keeps only
    its full version (``1.2.3-rc.1``). None when the tag is not semver."""
    match = _SEMVER.match(git_tag.strip())
    if not match:
        return None
    major, minor, patch, pre, _build = match.groups()
    full = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    if pre:
        return [full]
    if major == "0":
        return [full, f"{major}.{minor}"]
    return [full, f"{major}.{minor}", major]


def auto_tags(event: str, git_tag: str, branch: str, default_branch: str) -> list[str] | None:
    """The ``auto_tag`` scheme of plugins/docker.

    Tag event: the semver tags (a non-semver tag is used as it is). Push to the default
    branch: ``latest``. Anything else: None, which means "nothing to publish".
    """
    if git_tag and (event == "tag" or not event):
        return semver_tags(git_tag) or [sanitize_tag(git_tag)]
    if event in ("push", "") and branch and branch == (default_branch or "main"):
        return ["latest"]
    return None


def with_suffix(tags: list[str], suffix: str) -> list[str]:
    """``auto_tag_suffix``: ``1.2`` → ``1.2-linux-amd64``, ``latest`` → ``linux-amd64``."""
    if not suffix:
        return tags
    return [suffix if t == "latest" else f"{t}-{suffix}" for t in tags]


def commit_tag(tags: list[str], commit_sha: str) -> str | None:
    """The tag naming the commit: first tag plus the short commit (``1.2.3-abc1234``)."""
    short = commit_sha[:7]
    if not short:
        return None
    if not tags or tags[0] == "latest":
        return short
    return sanitize_tag(f"{tags[0]}-{short}")


# tag_scheme name -> what it names; the tag itself is made by ``scheme_tag``.
TAG_SCHEMES = {
    "semver-commit-revision": "<version of the git tag>-<short commit>-r<config revision>",
}


def scheme_tag(scheme: str, git_tag: str, commit_sha: str, revision: str) -> str:
    """The version tag of ``scheme``: ``semver-commit-revision`` gives ``1.2.0-a64aded-r7`` for
    git tag ``v1.2.0``, commit ``a64aded…`` and configuration revision 7. A git tag that is
    not semver is used as it is (sanitised); without a git tag the tag is ``a64aded-r7``.

    Raises ``ValueError`` for an unknown scheme, a missing commit or a revision that is not a
    number, saying which.
    """
    if scheme not in TAG_SCHEMES:
        known = ", ".join(sorted(TAG_SCHEMES))
        raise ValueError(f"unknown tag_scheme {scheme!r}: use one of {known}")
    short = commit_sha.strip()[:7]
    if not short:
        raise ValueError(f"tag_scheme {scheme} needs the commit (DRONE_COMMIT_SHA)")
    if not revision.strip().isdigit():
        raise ValueError(
            f"tag_scheme {scheme} needs the pipeline configuration revision as a number "
            f"(CI_CONFIG_REVISION, which pipeline-runner gives every step), got {revision!r}"
        )
    version = ""
    if git_tag.strip():
        semver = semver_tags(git_tag)
        version = semver[0] if semver else sanitize_tag(git_tag)
    parts = [version, short, f"r{int(revision)}"]
    return sanitize_tag("-".join(p for p in parts if p))


def unique(tags: list[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        tag = sanitize_tag(tag)
        if tag and tag not in out:
            out.append(tag)
    return out
