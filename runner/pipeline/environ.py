"""The system variables of a step: the Drone set (``CI``, ``DRONE_*``) and the Woodpecker set
(``CI_*``), so plugins of both ecosystems work unchanged.

``build_environment`` is pure and used twice: without a stage for substitution of the raw
pipeline text (build-level variables only), and with the stage and step by the compiler for
each step's environment (where it comes after the agent globals and the pipeline
``environment``, and before the step ``environment``). The variables that say how the build
is going (``DRONE_BUILD_STATUS``, ``CI_PIPELINE_STATUS``...) are compiled as ``success`` here
and replaced as each step starts (``runner.pipeline.runtime_env``).

Links, as the originals make them: ``DRONE_BUILD_LINK`` and ``CI_PIPELINE_URL`` are the
build's page on this server (``build_page_url``; drone/runner-go environ/environ.go ``Link``,
Woodpecker pipeline/frontend/metadata/environment.go ``getPipelineWebURL``), empty when there
is no server (``runner exec``); ``DRONE_REPO_LINK`` and ``CI_REPO_URL`` the repository's page
on its forge (``repo_page_url``; Drone's ``repo.Link``, Woodpecker's ``repo.ForgeURL``);
``DRONE_COMMIT_LINK`` and ``CI_PIPELINE_FORGE_URL`` the forge's page of the commit or compare
view the event names (``ctx.link``); ``CI_FORGE_URL`` the forge itself.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse, urlsplit, urlunsplit

from runner import __version__
from runner.pipeline.conditions import build_ref
from runner.pipeline.spec import BuildContext, StageSpec, StepSpec

_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)
# Woodpecker's names for the events whose Drone names differ.
_WOODPECKER_EVENTS = {"promote": "deployment", "rollback": "deployment", "custom": "manual"}


def semver_variables(tag: str) -> dict[str, str]:
    """``DRONE_SEMVER*`` for a tag such as ``v1.4.0-rc.1+b5``; an error variable otherwise."""
    if not tag:
        return {}
    match = _SEMVER.match(tag)
    if not match:
        return {"DRONE_SEMVER_ERROR": f"{tag} is not a semantic version"}
    major, minor, patch = match.group("major", "minor", "patch")
    pre, build = match.group("pre") or "", match.group("build") or ""
    version = (
        f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "") + (f"+{build}" if build else "")
    )
    return {
        "DRONE_SEMVER": version,
        "DRONE_SEMVER_MAJOR": major,
        "DRONE_SEMVER_MINOR": minor,
        "DRONE_SEMVER_PATCH": patch,
        "DRONE_SEMVER_PRERELEASE": pre,
        "DRONE_SEMVER_BUILD": build,
        "DRONE_SEMVER_SHORT": f"{major}.{minor}.{patch}",
    }


_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")


def build_page_url(server_url: str, repo: str, number: int) -> str:
    """The address of build ``number`` of ``repo`` in the web UI (``/repos/<owner>/<name>/<n>``),
    or "" without a server."""
    if not server_url:
        return ""
    return f"{server_url.rstrip('/')}/repos/{repo}/{number}"


def repo_page_url(remote_url: str) -> str:
    """The forge's web page of the repository cloned from ``remote_url``: the clone URL
    without credentials and ``.git`` (GitHub, Gitea, Gogs and GitLab serve the page there);
    ``git@host:owner/repo.git`` as ``https://host/owner/repo``. "" for a local path."""
    url = remote_url.strip()
    scp = _SCP_LIKE.match(url) if "://" not in url else None
    if scp:
        url = f"https://{scp.group('host')}/{scp.group('path')}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ssh", "git") or not parts.hostname:
        return ""
    scheme = parts.scheme if parts.scheme in ("http", "https") else "https"
    host = parts.hostname + (f":{parts.port}" if parts.port and scheme == parts.scheme else "")
    path = parts.path.rstrip("/").removesuffix(".git")
    return urlunsplit((scheme, host, path, "", ""))


def build_environment(
    ctx: BuildContext,
    stage: StageSpec | None = None,
    step: StepSpec | None = None,
    *,
    step_number: int = 0,
) -> dict[str, str]:
    """The ``CI``/``DRONE_*``/``CI_*`` variables for a build, a stage and a step.

    Without ``stage`` only build-level variables are returned (what substitution sees).
    With it, the stage's matrix axes are exported too, as Woodpecker does.
    """
    owner, _, name = ctx.repo.partition("/")
    url = urlparse(ctx.server_url or "http://localhost")
    ref = build_ref(ctx)
    branch = ctx.target_branch if ctx.event == "pull_request" and ctx.target_branch else ctx.branch
    build_link = build_page_url(ctx.server_url, ctx.repo, ctx.build_number)
    repo_link = repo_page_url(ctx.remote_url)
    forge = urlparse(repo_link)
    forge_url = f"{forge.scheme}://{forge.netloc}" if repo_link else ""
    short = ctx.commit[:8]
    env = {
        "CI": "true",
        "DRONE": "true",
        "DRONE_REPO": ctx.repo,
        "DRONE_REPO_OWNER": owner,
        "DRONE_REPO_NAMESPACE": owner,
        "DRONE_REPO_NAME": name,
        "DRONE_REPO_LINK": repo_link,
        "DRONE_REPO_BRANCH": ctx.default_branch,
        "DRONE_REPO_PRIVATE": _bool(ctx.private),
        "DRONE_REPO_VISIBILITY": "private" if ctx.private else "public",
        "DRONE_REPO_TRUSTED": _bool(ctx.trusted),
        "DRONE_REMOTE_URL": ctx.remote_url,
        "DRONE_GIT_HTTP_URL": ctx.remote_url,
        "DRONE_BUILD_NUMBER": str(ctx.build_number),
        "DRONE_BUILD_PARENT": str(ctx.parent),
        "DRONE_BUILD_EVENT": ctx.event,
        "DRONE_BUILD_ACTION": ctx.action,
        "DRONE_BUILD_STATUS": "success",
        "DRONE_BUILD_LINK": build_link,
        "DRONE_CONFIG_REVISION": str(ctx.config_revision),
        "DRONE_BUILD_CREATED": str(ctx.created),
        "DRONE_BUILD_STARTED": str(ctx.created),
        "DRONE_COMMIT": ctx.commit,
        "DRONE_COMMIT_SHA": ctx.commit,
        "DRONE_COMMIT_BEFORE": ctx.before,
        "DRONE_COMMIT_AFTER": ctx.commit,
        "DRONE_COMMIT_REF": ref,
        "DRONE_COMMIT_BRANCH": branch,
        "DRONE_COMMIT_MESSAGE": ctx.message,
        "DRONE_COMMIT_AUTHOR": ctx.author,
        "DRONE_COMMIT_AUTHOR_NAME": ctx.author,
        "DRONE_COMMIT_AUTHOR_EMAIL": ctx.author_email,
        "DRONE_COMMIT_AUTHOR_AVATAR": ctx.author_avatar,
        "DRONE_COMMIT_LINK": ctx.link,
        "DRONE_BRANCH": branch,
        "DRONE_SOURCE_BRANCH": ctx.source_branch or ctx.branch,
        "DRONE_TARGET_BRANCH": ctx.target_branch or ctx.branch,
        "DRONE_PULL_REQUEST": str(ctx.pull_request) if ctx.pull_request else "",
        "DRONE_TAG": ctx.tag,
        "DRONE_DEPLOY_TO": ctx.target,
        "DRONE_CRON": ctx.cron,
        "DRONE_SYSTEM_HOST": url.netloc,
        "DRONE_SYSTEM_HOSTNAME": url.hostname or "",
        "DRONE_SYSTEM_PROTO": url.scheme,
        "DRONE_SYSTEM_VERSION": __version__,
        "CI_REPO": ctx.repo,
        "CI_REPO_OWNER": owner,
        "CI_REPO_NAME": name,
        "CI_REPO_URL": repo_link,
        "CI_REPO_CLONE_URL": ctx.remote_url,
        "CI_REPO_DEFAULT_BRANCH": ctx.default_branch,
        "CI_REPO_PRIVATE": _bool(ctx.private),
        "CI_REPO_TRUSTED": _bool(ctx.trusted),
        "CI_COMMIT_SHA": ctx.commit,
        "CI_COMMIT_REF": ref,
        "CI_COMMIT_BRANCH": branch,
        "CI_COMMIT_SOURCE_BRANCH": ctx.source_branch,
        "CI_COMMIT_TARGET_BRANCH": ctx.target_branch,
        "CI_COMMIT_TAG": ctx.tag,
        "CI_COMMIT_PULL_REQUEST": str(ctx.pull_request) if ctx.pull_request else "",
        "CI_COMMIT_MESSAGE": ctx.message,
        "CI_COMMIT_AUTHOR": ctx.author,
        "CI_COMMIT_AUTHOR_EMAIL": ctx.author_email,
        "CI_COMMIT_AUTHOR_AVATAR": ctx.author_avatar,
        "CI_COMMIT_URL": ctx.link,
        "CI_PREV_COMMIT_SHA": ctx.before,
        "CI_PIPELINE_NUMBER": str(ctx.build_number),
        "CI_PIPELINE_PARENT": str(ctx.parent),
        "CI_PIPELINE_EVENT": _WOODPECKER_EVENTS.get(ctx.event, ctx.event),
        "CI_PIPELINE_URL": build_link,
        "CI_PIPELINE_FORGE_URL": ctx.link,
        "CI_PIPELINE_DEPLOY_TARGET": ctx.target,
        "CI_PIPELINE_STATUS": "success",
        "CI_PIPELINE_CREATED": str(ctx.created),
        "CI_PIPELINE_STARTED": str(ctx.created),
        "CI_PIPELINE_CRON": ctx.cron,
        "CI_CONFIG_REVISION": str(ctx.config_revision),
        "CI_SYSTEM_NAME": "pipeline-runner",
        "CI_SYSTEM_URL": ctx.server_url,
        "CI_SYSTEM_HOST": url.netloc,
        "CI_SYSTEM_VERSION": __version__,
        "CI_FORGE_URL": forge_url,
    }
    if short:
        env["DRONE_COMMIT_SHA_SHORT"] = short
    env.update(semver_variables(ctx.tag))
    if stage is not None:
        os_name, _, arch = stage.platform.partition("/")
        env.update(
            {
                "DRONE_STAGE_NAME": stage.name,
                "DRONE_STAGE_NUMBER": str(stage.number),
                "DRONE_STAGE_KIND": stage.kind,
                "DRONE_STAGE_TYPE": stage.type,
                "DRONE_STAGE_OS": os_name,
                "DRONE_STAGE_ARCH": arch,
                "DRONE_STAGE_DEPENDS_ON": ",".join(stage.depends_on),
                "DRONE_STAGE_STATUS": "success",
                "DRONE_WORKSPACE": stage.workspace,
                "DRONE_WORKSPACE_BASE": stage.workspace,
                "DRONE_WORKSPACE_PATH": "",
                "CI_WORKSPACE": stage.workspace,
                "CI_WORKFLOW_NAME": stage.name,
                "CI_WORKFLOW_NUMBER": str(stage.number),
            }
        )
        env.update(stage.matrix)
    if step is not None:
        env.update(
            {
                "DRONE_STEP_NAME": step.name,
                "DRONE_STEP_NUMBER": str(step_number),
                "CI_STEP_NAME": step.name,
                "CI_STEP_NUMBER": str(step_number),
            }
        )
    return env


def _bool(value: bool) -> str:
    return "true" if value else "false"
