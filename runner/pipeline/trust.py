"""The trust rules: what a step may ask for outside its container, by the build's trust class.

Every build has one trust class, decided by the server from the repository and the event, never
from the pipeline file (``trust_class``): ``trusted`` (a repository a server admin marked
trusted), ``own`` (pushes, tags, crons, promotions, pull requests from the same repository) and
``fork`` (pull requests from another repository). The rules, each written once here:

- ``refusal``: the Docker socket, privileged mode, host paths and ``network_mode`` need a
  trusted build, or an image of the agent's privileged list run *as shipped*: no ``commands``,
  ``entrypoint`` or ``command``, no host path but the Docker socket. A fork gets that only when
  the repository's ``fork_privileged`` setting is on. This is Drone's rule: drone-runner-docker
  (engine/compiler/compiler.go, ``isPrivileged``) drops the privilege of an allow-listed image
  whose step sets commands, command, entrypoint or volumes. Nor may such a step build an
  image under any name of the list (``published_names``: every name the docker plugins would
  tag, compared loosely, refused when unknown until the step runs).
- ``privileged_by_default``: an image of the privileged list run as shipped is privileged
  without asking, as in Drone, where the trust class allows it.
- ``secret_fits``: a secret restricted to images reaches only plugin steps of those images,
  never a step that sets ``commands``, ``entrypoint`` or ``command`` (``is_plugin``; Woodpecker's
  ``Secret.Available`` in pipeline/frontend/yaml/compiler/compiler.go: "secret is only allowed
  to be used by plugins").
- ``route_refusal``: a fork cannot ask for the agent labels of an environment guarded by an
  approval or a lock.
- ``image_matches``: how an image is compared with a list of image names or globs
  (``runner.globs``).

Pure: no I/O. The server applies them when it compiles a build, the agent's engine again before
it creates anything, the store when it hands out secrets.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from typing import Any

from runner.globs import glob_match
from runner.labels import matches
from runner.pipeline.spec import KIND_STEP, StageSpec, StepSpec

TRUSTED = "trusted"
OWN = "own"
FORK = "fork"
TRUST_CLASSES = (TRUSTED, OWN, FORK)

DOCKER_SOCKET = "/var/run/docker.sock"

_DEFAULT_REGISTRIES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")

# Drone's images that run Docker in Docker and so are privileged when run as shipped:
# drone-runner-docker engine/compiler/compiler.go, ``Privileged`` (the runner adds the images
# of DRONE_RUNNER_PRIVILEGED_IMAGES to them: command/daemon/daemon.go).
DRONE_PRIVILEGED_IMAGES = (
    "plugins/docker",
    "plugins/acr",
    "plugins/ecr",
    "plugins/gcr",
    "plugins/heroku",
)
# This project's image-building plugins: they reach the agent's engine through the Docker
# socket a step mounts, and never need privileged mode (see ``privileged_by_default``).
OWN_PRIVILEGED_IMAGES = ("pipeline-runner/docker", "runner-plugin-docker")
# The names of this project's docker plugin, which uses the engine's socket and never privileged
# mode: its own, and the Drone name ``runner plugin build`` tags it with (``plugins/docker``,
# runner/commands/plugin.py DRONE_NAMES), so a Drone file's ``image: plugins/docker`` runs it.
SOCKET_PLUGIN_IMAGES = (*OWN_PRIVILEGED_IMAGES, "plugins/docker")
# The agents' privileged list when their settings do not name one.
DEFAULT_PRIVILEGED_IMAGES = (*DRONE_PRIVILEGED_IMAGES, *OWN_PRIVILEGED_IMAGES)


def trust_class(*, repo_trusted: bool, fork: bool) -> str:
    """The class of a build: the code of a pull request from a fork (the forge's signed
    ``fork`` flag, never the file) is ``fork`` even in a trusted repository, since its author
    is not the repository's, and stays so when that build is restarted, promoted or rolled
    back; otherwise ``trusted`` or ``own``."""
    if fork:
        return FORK
    return TRUSTED if repo_trusted else OWN


def stage_trust(stage: StageSpec) -> str:
    """The trust class a compiled stage runs with (older specs carry only ``trusted``)."""
    if stage.trusted:
        return TRUSTED
    return stage.trust if stage.trust in TRUST_CLASSES else OWN


# Images --------------------------------------------------------------------------------------


def image_name(image: str) -> tuple[str, str]:
    """``(name, tag)`` of an image reference, the registry default spelled out nowhere:
    ``docker.io/library/alpine:3`` -> ``("alpine", "3")``; a digest counts as the tag."""
    image = image.strip()
    name, _, digest = image.partition("@")
    head, _, last = name.rpartition("/")
    last, _, tag = last.partition(":")
    name = f"{head}/{last}" if head else last
    for prefix in _DEFAULT_REGISTRIES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
    name = name.removeprefix("library/")
    return name, digest or tag


def image_matches(image: str, patterns: Iterable[str]) -> bool:
    """Whether ``image`` is one of ``patterns``: names or ``runner.globs`` globs
    (``plugins/*`` takes ``plugins/docker``, not ``plugins/a/b``), compared without the default
    registry or ``library/``, as Drone compares the familiar names of its privileged list
    (drone-runner-docker internal/docker/image/image.go, ``Match``). A pattern without a tag
    takes every tag (``plugins/docker`` takes ``docker.io/plugins/docker:20``), as in Drone; one
    with a tag only that tag, where Drone ignores it. No patterns: False. The one image rule:
    the privileged list, the engine's policy and secrets' ``images`` all come here."""
    name, tag = image_name(image)
    for pattern in patterns:
        want, want_tag = image_name(pattern)
        if not want or not glob_match(name, want):
            continue
        if not want_tag or glob_match(tag or "latest", want_tag):
            return True
    return False


# Steps ---------------------------------------------------------------------------------------


def privileges(step: StepSpec) -> list[str]:
    """What ``step`` asks for outside its container (empty: nothing)."""
    asks = []
    if step.privileged:
        asks.append("privileged mode")
    for mount in step.mounts:
        if mount.kind == "host":
            what = "the Docker socket" if mount.source == DOCKER_SOCKET else "the host path"
            asks.append(f"{what} {mount.source}")
    if step.network_mode:
        asks.append(f"network_mode {step.network_mode}")
    return list(dict.fromkeys(asks))


_PROGRAM_FIELDS = ("commands", "entrypoint", "command")


def program_changes(step: StepSpec | dict[str, Any]) -> list[str]:
    """Which of ``commands``, ``entrypoint`` and ``command`` ``step`` (a spec or its dict form)
    sets: each replaces the program its image's author shipped."""
    if isinstance(step, dict):
        return [name for name in _PROGRAM_FIELDS if step.get(name)]
    return [name for name in _PROGRAM_FIELDS if getattr(step, name)]


def changes_to_plugin(step: StepSpec) -> list[str]:
    """How ``step`` changes the image it runs from what its author shipped (empty: not at
    all): its own commands, entrypoint or command, or a host path beyond the Docker socket."""
    changes = program_changes(step)
    for mount in step.mounts:
        socket = mount.source == DOCKER_SOCKET and mount.target == DOCKER_SOCKET
        if mount.kind == "host" and not socket:
            changes.append(f"the host path {mount.source}")
    return changes


def is_plugin(step: StepSpec | dict[str, Any]) -> bool:
    """Whether ``step`` (a spec or its dict form) runs its image's own program: no commands,
    no entrypoint, no command (``program_changes``)."""
    return not program_changes(step)


def privileged_by_default(
    step: StepSpec,
    *,
    trust: str,
    privileged_images: Sequence[str] = (),
    fork_privileged: bool = False,
) -> bool:
    """Whether ``step`` runs in privileged mode without asking, as Drone runs the images of
    its privileged list: drone-runner-docker engine/compiler/compiler.go (``Compile`` and
    ``isPrivileged``) makes a step (not a service) privileged when its image is on the list
    and it sets no commands, command, entrypoint or volumes. Within this project's trust
    rules: a fork's build gets it only with ``fork_privileged``, and this project's docker
    plugin under any of its names (``SOCKET_PLUGIN_IMAGES``, ``plugins/docker`` among them),
    which gets the socket instead (``runner.pipeline.plugin_socket``), never gets it."""
    if step.kind != KIND_STEP or step.privileged:
        return False
    if trust == FORK and not fork_privileged:
        return False
    if not is_plugin(step) or any(m.kind in ("host", "temp") for m in step.mounts):
        return False
    listed = image_matches(step.image, privileged_images)
    return listed and not image_matches(step.image, SOCKET_PLUGIN_IMAGES)


def refusal(
    step: StepSpec,
    *,
    trust: str,
    privileged_images: Sequence[str] = (),
    fork_privileged: bool = False,
) -> str:
    """Why ``step`` may not run in a build of class ``trust`` ("" when it may), with what to do."""
    asks = privileges(step)
    if not asks or trust == TRUSTED:
        return ""
    what = ", ".join(asks)
    if not image_matches(step.image, privileged_images):
        return (
            f'step "{step.name}" ({step.image}) asks for {what}, which needs a trusted '
            "repository: ask a server admin to mark it trusted, or use a plugin image of the "
            "agents' privileged list"
        )
    if trust == FORK and not fork_privileged:
        return (
            f'step "{step.name}" ({step.image}) asks for {what}: a pull request from a fork '
            "gets no privileged step unless a repository admin turns on fork_privileged"
        )
    changes = changes_to_plugin(step)
    if changes:
        return (
            f'step "{step.name}" ({step.image}) asks for {what} and sets {", ".join(changes)}: '
            "an image of the privileged list gets them only as shipped; remove "
            f"{', '.join(changes)}, or ask a server admin to mark the repository trusted"
        )
    try:
        targets = published_names(step)
    except ValueError as exc:
        return (
            f'step "{step.name}" ({step.image}) gets {what}, and which image it would build '
            f"cannot be told before it runs: {exc}; write the image name in the pipeline file"
        )
    for target in targets:
        if _name_listed(target, privileged_images):
            # With the agent's Docker socket, an image built under that name would replace the
            # plugin the next builds trust with the socket.
            return (
                f'step "{step.name}" ({step.image}) would build the image {target}, a name of '
                "the agents' privileged list: publish under another name"
            )
    return ""


# What an image-building plugin tags ----------------------------------------------------------

# The settings that make the name an image-building plugin tags on the agent's engine: this
# project's plugins/docker/docker_plugin.py (``make_plan``: ``repo`` or ``image``, prefixed
# with ``registry``; ``read_tags``: ``tags``/``tag``, ``auto_tag_suffix``) and Drone's
# plugins/docker (drone-docker's README: "repo - repository name for the image", "tag, tags -
# repository tags for the image", "registry - authenticates to this registry").
_REPO_SETTINGS = ("PLUGIN_REPO", "PLUGIN_IMAGE")
# ``registry``, else the plain DOCKER_REGISTRY drone-docker falls back to (its main.go), which
# the plugin reads too: either one prefixes ``repo``.
_REGISTRY_SETTINGS = ("PLUGIN_REGISTRY", "DOCKER_REGISTRY")
_TAG_SETTINGS = ("PLUGIN_TAGS", "PLUGIN_TAG", "PLUGIN_AUTO_TAG_SUFFIX", "PLUGIN_DEFAULT_SUFFIX")
_NAME_SETTINGS = (*_REPO_SETTINGS, *_REGISTRY_SETTINGS, *_TAG_SETTINGS)
# Between the entries of a list setting: commas (the runner's form) or a JSON array's syntax.
_LIST_SEPARATORS = re.compile(r"[\s,\[\]\"']+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
# Docker Hub under every spelling the engine resolves to it (a port kept: refused, not missed).
_DOCKER_HUB = re.compile(r"^(?:(?:index|registry-1)\.)?docker\.io(?::\d+)?/")


def published_names(step: StepSpec) -> list[str]:
    """Every image name (``publish_name`` form) an image-building plugin step could tag, for
    each entry of ``repo``/``image``, alone and after ``registry``, and with each ``tags``
    entry appended as the plugin appends it; [] when the step names no image. Raises
    ``ValueError`` with the reason when a naming setting comes from a secret, whose value is
    known only when the step runs."""
    for ref in step.secrets:
        if ref.env in _NAME_SETTINGS:
            setting = ref.env.removeprefix("PLUGIN_").lower()
            raise ValueError(f"its setting {setting} comes from the secret {ref.name}")
    env = step.environment
    repos = [entry for name in _REPO_SETTINGS for entry in _entries(env.get(name))]
    hosts = [
        _registry_host(entry) for name in _REGISTRY_SETTINGS for entry in _entries(env.get(name))
    ]
    tags = [entry for name in _TAG_SETTINGS for entry in _entries(env.get(name))]
    refs = []
    for repo in repos:
        for image in [repo, *(f"{host}/{repo}" for host in hosts if host)]:
            refs.append(image)
            refs.extend(f"{image}:{tag}" for tag in tags)
    return list(dict.fromkeys(publish_name(ref) for ref in refs))


def publish_name(ref: str) -> str:
    """The repository an image reference names, spelled so that every spelling the engine
    resolves to one image compares equal, and more (when unsure, two names are one): lower
    case, no scheme, tag or digest, ``..`` and ``.`` resolved, no Docker Hub host or
    ``library/``. ``HTTPS://Index.Docker.IO/library/../Plugins/Docker:1`` -> ``plugins/docker``."""
    name = _SCHEME.sub("", ref.strip().lower()).partition("@")[0]
    head, _, last = name.rpartition("/")
    last = last.partition(":")[0]
    name = posixpath.normpath(f"{head}/{last}" if head else last).lstrip("/")
    while name.startswith("../"):
        name = name[3:]
    while True:
        shorter = _DOCKER_HUB.sub("", name).removeprefix("library/")
        if shorter == name:
            return name
        name = shorter


def _name_listed(name: str, patterns: Iterable[str]) -> bool:
    """Whether the repository ``name`` (``publish_name`` form) is one of ``patterns`` under any
    tag: building any tag of a listed name counts."""
    return any(glob_match(name, publish_name(pattern)) for pattern in patterns)


def _entries(value: str | None) -> list[str]:
    """The entries of a setting that may be a list (comma-joined or JSON), each one kept."""
    return [entry for entry in _LIST_SEPARATORS.split(value or "") if entry]


def _registry_host(registry: str) -> str:
    """A ``registry`` setting as the docker plugin puts it before ``repo`` (``make_plan``)."""
    return _SCHEME.sub("", registry.lower()).rstrip("/")


def stage_refusals(
    stage: StageSpec,
    *,
    trusted: bool = False,
    privileged_images: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """``(step name, reason)`` for every service and step of ``stage`` the rule refuses.

    ``trusted`` trusts every stage (``runner exec --trusted``); otherwise the stage's own
    class (``stage.trust``) and ``stage.fork_privileged`` decide.
    """
    trust = TRUSTED if trusted else stage_trust(stage)
    out = []
    for step in [*stage.services, *stage.steps]:
        reason = refusal(
            step,
            trust=trust,
            privileged_images=privileged_images,
            fork_privileged=stage.fork_privileged,
        )
        if reason:
            out.append((step.name, reason))
    return out


# Secrets -------------------------------------------------------------------------------------


def secret_fits(images: Sequence[str], image: str, *, plugin: bool) -> bool:
    """Whether a secret restricted to ``images`` (none: no restriction) may reach a step of
    ``image``: only a plugin step (``plugin``: see ``is_plugin``) of one of those images."""
    if not images:
        return True
    return plugin and image_matches(image, images)


# Routing -------------------------------------------------------------------------------------


def guarded(environment: Any) -> bool:
    """Whether an environment holds its deployments behind an approval or a lock."""
    return bool(environment.approval_required or environment.lock)


def route_refusal(labels: dict[str, str], environments: Iterable[Any]) -> str:
    """Why a fork's stage asking for agent ``labels`` would reach the agents of a guarded
    environment ("" when it would not): any label that an approval or lock environment's
    agents carry (values compared as agents compare them, ``*`` included) is refused."""
    for env in environments:
        if not guarded(env) or not env.labels:
            continue
        for key, value in labels.items():
            if matches({key: value}, dict(env.labels)):
                gate = "an approval" if env.approval_required else "a lock"
                return (
                    f"agent label {key}={value} belongs to environment {env.name}, which has "
                    f"{gate}: a pull request from a fork cannot run on its agents; remove the "
                    "label from the pipeline's node/labels"
                )
    return ""
