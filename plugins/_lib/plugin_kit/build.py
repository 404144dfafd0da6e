"""Build data from the ``DRONE_*`` / ``CI_*`` variables, and templates over it.

``build_vars`` gives a flat mapping with the names of Drone's plugin templates
(``repo.owner``, ``build.number``, ``build.status``, ``commit.sha`` ...); ``render`` fills
``{{ name }}`` placeholders from it and ``${VAR}`` ones from the environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

_PAIRS = {
    # template name: variables in order of preference
    "repo.owner": ("DRONE_REPO_OWNER", "CI_REPO_OWNER"),
    "repo.name": ("DRONE_REPO_NAME", "CI_REPO_NAME"),
    "repo.full_name": ("DRONE_REPO", "CI_REPO"),
    "repo.link": ("DRONE_REPO_LINK", "CI_REPO_URL", "CI_REPO_LINK"),
    "build.number": ("DRONE_BUILD_NUMBER", "CI_BUILD_NUMBER", "CI_PIPELINE_NUMBER"),
    "build.status": ("DRONE_BUILD_STATUS", "CI_BUILD_STATUS", "CI_PIPELINE_STATUS"),
    "build.event": ("DRONE_BUILD_EVENT", "CI_BUILD_EVENT", "CI_PIPELINE_EVENT"),
    "build.link": ("DRONE_BUILD_LINK", "CI_BUILD_LINK", "CI_PIPELINE_URL"),
    "build.branch": ("DRONE_BRANCH", "DRONE_COMMIT_BRANCH", "CI_COMMIT_BRANCH"),
    "build.tag": ("DRONE_TAG", "CI_COMMIT_TAG"),
    "build.commit": ("DRONE_COMMIT_SHA", "DRONE_COMMIT", "CI_COMMIT_SHA"),
    "build.ref": ("DRONE_COMMIT_REF", "CI_COMMIT_REF"),
    "build.message": ("DRONE_COMMIT_MESSAGE", "CI_COMMIT_MESSAGE"),
    "build.author": ("DRONE_COMMIT_AUTHOR", "CI_COMMIT_AUTHOR"),
    "build.author_email": ("DRONE_COMMIT_AUTHOR_EMAIL", "CI_COMMIT_AUTHOR_EMAIL"),
    "build.started": ("DRONE_BUILD_STARTED", "CI_BUILD_STARTED", "CI_PIPELINE_STARTED"),
    "build.finished": ("DRONE_BUILD_FINISHED", "CI_BUILD_FINISHED", "CI_PIPELINE_FINISHED"),
    "build.deploy_to": ("DRONE_DEPLOY_TO", "CI_BUILD_TARGET", "CI_PIPELINE_DEPLOY_TARGET"),
    "stage.name": ("DRONE_STAGE_NAME", "CI_WORKFLOW_NAME"),
    "step.name": ("DRONE_STEP_NAME", "CI_STEP_NAME"),
    "system.host": ("DRONE_SYSTEM_HOST", "CI_SYSTEM_HOST"),
}


def build_vars(environ: dict[str, str]) -> dict[str, str]:
    """The build's data under template names; missing values are empty strings."""
    out: dict[str, str] = {}
    for name, candidates in _PAIRS.items():
        out[name] = next((environ[c] for c in candidates if environ.get(c)), "")
    if not out["repo.full_name"] and out["repo.owner"]:
        out["repo.full_name"] = f"{out['repo.owner']}/{out['repo.name']}"
    if out["repo.full_name"] and not out["repo.name"]:
        owner, _, name = out["repo.full_name"].rpartition("/")
        out["repo.owner"], out["repo.name"] = owner, name
    out["build.status"] = out["build.status"] or "success"
    out["build.short_commit"] = out["build.commit"][:7]
    out["commit.sha"] = out["build.commit"]
    out["commit.short"] = out["build.short_commit"]
    out["commit.message"] = out["build.message"]
    out["commit.branch"] = out["build.branch"]
    out["commit.author"] = out["build.author"]
    out["build.deployTo"] = out["build.deploy_to"]
    return out


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}|\$\{([A-Za-z_]\w*)\}")


def render(
    template: str,
    variables: dict[str, str],
    environ: dict[str, str] | None = None,
    escape: Callable[[str], str] | None = None,
) -> str:
    """Fill ``{{ build.number }}`` from ``variables`` and ``${DRONE_TAG}`` from ``environ``.

    Unknown names become empty strings. ``escape`` is applied to every inserted value (for a
    JSON template, ``json_escape`` keeps quotes and newlines of commit messages valid).
    """
    environ = environ or {}
    escape = escape or (lambda v: v)

    def fill(match: re.Match[str]) -> str:
        if match.group(1):
            return escape(str(variables.get(match.group(1), "")))
        return escape(str(environ.get(match.group(2), "")))

    return _PLACEHOLDER.sub(fill, template)


def json_escape(value: str) -> str:
    """A value as it goes between the quotes of a JSON string."""
    return json.dumps(value)[1:-1]
