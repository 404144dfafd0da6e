"""Build an image from the workspace and push it, through the host engine's socket.

Settings are those of plugins/docker (``repo``, ``registry``, ``tags``, ``auto_tag``,
``dockerfile``, ``context``, ``build_args``, ``target``, ``cache_from``, ``labels``,
``username``/``password``, ``dry_run``, ``purge``) plus ``tag_commit`` and ``tag_scheme``.
See README.md.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import docker
import docker_tags
from plugin_kit.engine import engine_client
from plugin_kit.output import PluginError, run, say
from plugin_kit.settings import Settings

DOCKER_HUB = "https://index.docker.io/v1/"
# The label naming the pipeline configuration revision the image was built with.
CONFIG_REVISION_LABEL = "io.pipeline-runner.config-revision"
# The archive name of a Dockerfile that lives outside the build context.
OUTSIDE_DOCKERFILE = ".pipeline-runner.Dockerfile"


@dataclass
class Plan:
    """What one run does; built from the settings alone, so it can be checked without Docker."""

    image: str  # registry/repository without tag
    registry: str  # registry host for login; empty for Docker Hub
    tags: list[str]
    dockerfile: str
    context: str
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    cache_from: list[str] = field(default_factory=list)
    username: str = ""
    password: str = ""
    dry_run: bool = False
    purge: bool = True
    pull: bool = False
    no_cache: bool = False

    def refs(self) -> list[str]:
        return [f"{self.image}:{tag}" for tag in self.tags]


def registry_of(repo: str) -> str:
    """The registry host a repository name points at, or "" for Docker Hub."""
    first, sep, _ = repo.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return ""


def read_tags(s: Settings) -> list[str] | None:
    """The tags to publish, or None when this build has nothing to publish (auto_tag).

    With ``tag_scheme`` its version tag comes first (so it is the image's version label),
    and is the only tag when neither ``tags`` nor ``auto_tag`` names others.
    """
    commit = s.build("DRONE_COMMIT_SHA", "DRONE_COMMIT", "CI_COMMIT_SHA")
    scheme = (s.get("tag_scheme") or "").strip()
    if s.bool("auto_tag", "default_tags"):
        tags = docker_tags.auto_tags(
            s.build("DRONE_BUILD_EVENT", "CI_BUILD_EVENT", "CI_PIPELINE_EVENT"),
            s.build("DRONE_TAG", "CI_COMMIT_TAG"),
            s.build("DRONE_BRANCH", "DRONE_COMMIT_BRANCH", "CI_COMMIT_BRANCH"),
            s.build("DRONE_REPO_BRANCH", "CI_REPO_DEFAULT_BRANCH", default="main"),
        )
        if tags is None:
            return None
        tags = docker_tags.with_suffix(tags, s.get("auto_tag_suffix", "default_suffix") or "")
        tags += s.list("tags") if s.get("tags") else []
    else:
        tags = s.list("tags", "tag")
        if not tags and os.path.isfile(".tags"):
            with open(".tags", encoding="utf-8") as fh:
                tags = [t.strip() for t in fh.read().replace("\n", ",").split(",") if t.strip()]
        if not tags and not scheme:
            tags = ["latest"]
    if s.bool("tag_commit", "commit_tag"):
        extra = docker_tags.commit_tag(docker_tags.unique(tags), commit)
        if extra:
            tags.append(extra)
    if scheme:
        try:
            version = docker_tags.scheme_tag(
                scheme, s.build("DRONE_TAG", "CI_COMMIT_TAG"), commit, config_revision(s)
            )
        except ValueError as exc:
            raise PluginError(str(exc)) from None
        tags.insert(0, version)
    return docker_tags.unique(tags)


def config_revision(s: Settings) -> str:
    """The pipeline configuration revision the server gave the build ("" when none)."""
    return s.build("CI_CONFIG_REVISION", "DRONE_CONFIG_REVISION")


def make_plan(s: Settings) -> Plan | None:
    """Read and check every setting; None when auto_tag finds nothing to publish."""
    repo = s.require("repo", "image", hint="e.g. repo: registry.example.com/team/app")
    # drone-docker (cmd/drone-docker/main.go) reads each login field from its setting, else
    # from the plain variable a Drone 0.8 secret exports: PLUGIN_USERNAME,DOCKER_USERNAME...
    registry = s.get("registry") or s.env("DOCKER_REGISTRY") or ""
    registry = registry.replace("https://", "").replace("http://", "").rstrip("/")
    if registry and not registry_of(repo) and "docker.io" not in registry:
        repo = f"{registry}/{repo}"
    registry = registry or registry_of(repo)
    username = s.get("username", "docker_username") or s.env("DOCKER_USERNAME") or ""
    password = (
        s.secret("password", "docker_password") or s.env("DOCKER_PASSWORD", secret=True) or ""
    )
    if username and not password:
        s.require_secret("password", hint="username is set, so the password is needed")
    tags = read_tags(s)
    if tags is None:
        return None
    dockerfile = s.get("dockerfile", default="Dockerfile")
    context = s.get("context", default=".")
    build_args = s.map("build_args")
    for name in s.list("build_args_from_env"):
        if name in s.environ:
            build_args[name] = s.environ[name]
    labels = {}
    if s.bool("auto_label", default=True):
        labels.update(oci_labels(s, tags))
    labels.update(s.map("labels", "custom_labels"))
    return Plan(
        image=repo,
        registry=registry,
        tags=tags,
        dockerfile=dockerfile,
        context=context,
        build_args=build_args,
        labels=labels,
        target=s.get("target", default="") or "",
        cache_from=s.list("cache_from"),
        username=username,
        password=password,
        dry_run=s.bool("dry_run"),
        purge=s.bool("purge", default=True),
        pull=s.bool("pull_image"),
        no_cache=s.bool("no_cache"),
    )


def oci_labels(s: Settings, tags: list[str]) -> dict[str, str]:
    """Standard labels that tie the image to its commit, build and source."""
    labels = {
        "org.opencontainers.image.created": datetime.datetime.now(datetime.UTC)
        .replace(microsecond=0)
        .isoformat(),
        "org.opencontainers.image.revision": s.build("DRONE_COMMIT_SHA", "CI_COMMIT_SHA"),
        "org.opencontainers.image.source": s.build("DRONE_REPO_LINK", "CI_REPO_URL"),
        "org.opencontainers.image.url": s.build("DRONE_BUILD_LINK", "CI_PIPELINE_URL"),
        "org.opencontainers.image.version": tags[0] if tags else "",
        CONFIG_REVISION_LABEL: config_revision(s),
    }
    return {k: v for k, v in labels.items() if v}


def context_archive(context: str, dockerfile: str) -> tuple[IO[bytes], str, int]:
    """The build context as a tar file, as ``docker build`` sends it.

    Returns ``(file positioned at 0, Dockerfile path inside the archive, size in bytes)``.
    Files matching ``.dockerignore`` stay out, except the Dockerfile; a Dockerfile outside the
    context is added under a name of its own. The caller closes the file. Raises
    ``FileNotFoundError`` for a missing context or Dockerfile.
    """
    if not os.path.isdir(context):
        raise FileNotFoundError(f"build context {context!r} is not a folder of the workspace")
    if not os.path.isfile(dockerfile):
        raise FileNotFoundError(
            f"Dockerfile {dockerfile!r} not found: set 'dockerfile' relative to the workspace"
        )
    patterns: list[str] = []
    ignore_file = os.path.join(context, ".dockerignore")
    if os.path.isfile(ignore_file):
        with open(ignore_file, encoding="utf-8") as fh:
            lines = (line.strip() for line in fh)
            patterns = [line for line in lines if line and not line.startswith("#")]
    inner = os.path.relpath(dockerfile, context)
    extra: tuple[str, str | None] = (inner, None)
    if inner.startswith(".."):
        inner = OUTSIDE_DOCKERFILE
        with open(dockerfile, encoding="utf-8") as fh:
            extra = (inner, fh.read())
    archive = docker.utils.tar(context, exclude=patterns, dockerfile=extra)
    size = archive.seek(0, os.SEEK_END)
    archive.seek(0)
    return archive, inner, size


def login(engine: docker.DockerClient, plan: Plan) -> None:
    server = plan.registry or DOCKER_HUB
    try:
        engine.login(plan.username, plan.password, registry=server, reauth=True)
    except docker.errors.APIError as exc:
        raise PluginError(
            f"login to registry {plan.registry or 'docker.io'} as '{plan.username}' failed: "
            f"{exc.explanation or exc} (check the 'username' and 'password' settings)"
        ) from None
    say(f"logged in to {plan.registry or 'docker.io'} as {plan.username}")


def stream(messages: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The decoded messages of a build or push; an ``{"error": ...}`` one raises ``APIError``
    (the engine reports a failed build or push there, after answering 200)."""
    for message in messages:
        if message.get("error"):
            detail = (message.get("errorDetail") or {}).get("message") or message["error"]
            raise docker.errors.APIError(str(detail).strip(), explanation=str(detail).strip())
        yield message


def build(engine: docker.DockerClient, plan: Plan) -> None:
    archive, inner_dockerfile, size = context_archive(plan.context, plan.dockerfile)
    say(f"building {plan.refs()[0]} from {plan.context} ({plan.dockerfile}, {size} bytes)")
    try:
        with archive:
            messages = engine.api.build(
                fileobj=archive,
                custom_context=True,
                tag=plan.refs()[0],
                dockerfile=inner_dockerfile,
                buildargs=plan.build_args or None,
                labels=plan.labels or None,
                target=plan.target or None,
                cache_from=plan.cache_from or None,
                nocache=plan.no_cache,
                pull=plan.pull,
                rm=True,
                forcerm=True,
                decode=True,
            )
            for message in stream(messages):
                text = message.get("stream") or message.get("status") or ""
                for line in text.rstrip("\n").splitlines():
                    say(line)
    except docker.errors.APIError as exc:
        raise PluginError(f"image build failed: {exc.explanation or exc}") from None
    for ref in plan.refs()[1:]:
        name, _, tag = ref.rpartition(":")
        engine.api.tag(plan.refs()[0], name, tag)
        say(f"tagged {ref}")


def push(engine: docker.DockerClient, plan: Plan) -> None:
    auth = {"username": plan.username, "password": plan.password}
    for tag in plan.tags:
        say(f"pushing {plan.image}:{tag}")
        try:
            messages = engine.api.push(
                plan.image, tag=tag, auth_config=auth, stream=True, decode=True
            )
            for message in stream(messages):
                status = message.get("status", "")
                if status and status not in ("Pushing", "Preparing", "Waiting"):
                    layer = message.get("id", "")
                    say(f"{layer}: {status}" if layer else status)
        except docker.errors.APIError as exc:
            raise PluginError(
                f"push of {plan.image}:{tag} failed: {exc.explanation or exc} "
                "(check the registry address, 'username' and 'password')"
            ) from None


def purge(engine: docker.DockerClient, plan: Plan) -> None:
    for ref in plan.refs():
        try:
            engine.api.remove_image(ref, force=True)
        except docker.errors.APIError as exc:
            say(f"could not remove {ref}: {exc.explanation or exc}")
    say(f"removed the local tags of {plan.image}")


def main(environ: dict[str, str] | None = None) -> int:
    s = Settings(environ)
    plan = make_plan(s)
    if plan is None:
        say("nothing to publish for this event/branch (auto_tag): skipping the image build")
        return 0
    say(f"image {plan.image}, tags: {', '.join(plan.tags)}")
    engine = engine_client(s.environ)
    if plan.username and not plan.dry_run:
        login(engine, plan)
    built = False
    try:
        build(engine, plan)
        built = True
        if plan.dry_run:
            say("dry run: not pushing")
        else:
            push(engine, plan)
            say(f"pushed {len(plan.tags)} tag(s) of {plan.image}")
    finally:
        if plan.purge and built:
            purge(engine, plan)
    return 0


if __name__ == "__main__":
    run(main)
