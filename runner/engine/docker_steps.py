"""How a step becomes a Docker container: its configuration, its image pulled by the step's
pull policy, and what to tell the user when it cannot be created or started.

The configuration is built with the SDK's own builders and sent by ``DockerEngine`` in one
create call. Output is read from the attach stream only (``docker_logs``), so containers get no
log driver.
"""

from __future__ import annotations

import re
from typing import Any

import docker.errors
from docker.types import Mount as DockerMount

from runner.engine.base import SCRIPT_ENTRYPOINT, SCRIPT_ENV, LogSink, shell_script
from runner.engine.labels import LABEL_STEP, cache_volume
from runner.errors import EngineError
from runner.pipeline.registry_auth import RegistryAuth, image_host
from runner.pipeline.spec import StageSpec, StepSpec

_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]+")
# How registries (through the Docker engine) say that the credentials were missing or wrong.
_UNAUTHORIZED = re.compile(
    r"unauthorized|authentication required|no basic auth credentials|denied|"
    r"incorrect username or password",
    re.IGNORECASE,
)


def safe_name(text: str) -> str:
    """``text`` with every run of characters Docker refuses in names replaced by ``-``."""
    return _NAME_CHARS.sub("-", text)


def container_config(
    api: Any,
    stage: StageSpec,
    step: StepSpec,
    env: dict[str, str],
    *,
    run_id: str,
    labels: dict[str, str],
    network: str,
    volumes: dict[str, str],
    workspace_host_path: str | None,
) -> dict[str, Any]:
    """The arguments of ``APIClient.create_container`` for ``step`` of the run ``run_id``.

    ``labels`` are the run's, ``network`` its network ("" for Docker's default bridge),
    ``volumes`` its workspace and temp volumes by name; ``workspace_host_path`` binds a host
    directory as the workspace instead. Raises ``EngineError`` for a volume the stage does not
    declare.
    """
    env = dict(env)
    entrypoint, command = step.entrypoint, step.command
    if step.commands:
        env[SCRIPT_ENV] = shell_script(step.commands)
        entrypoint, command = SCRIPT_ENTRYPOINT, None
    host_config = api.create_host_config(
        mounts=_mounts(stage, step, labels, volumes, workspace_host_path),
        network_mode=step.network_mode or network or None,
        privileged=step.privileged,
        shm_size=step.shm_size or None,
        dns=step.dns or None,
        extra_hosts=step.extra_hosts or None,
        # Output is read from the attach stream only; a log driver would store every line
        # a second time and halve the throughput of a chatty step.
        log_config={"Type": "none", "Config": {}},
    )
    networking = None
    if network and not step.network_mode:
        endpoint = api.create_endpoint_config(aliases=[step.name])
        networking = api.create_networking_config({network: endpoint})
    return dict(
        image=step.image,
        command=command,
        entrypoint=entrypoint,
        environment=env,
        working_dir=step.working_dir or stage.workspace,
        user=step.user or None,
        labels={**labels, LABEL_STEP: step.name},
        name=f"pr-{run_id}-{safe_name(step.name)}",
        host_config=host_config,
        networking_config=networking,
    )


def _mounts(
    stage: StageSpec,
    step: StepSpec,
    labels: dict[str, str],
    volumes: dict[str, str],
    workspace_host_path: str | None,
) -> list[DockerMount]:
    if workspace_host_path:
        mounts = [DockerMount(stage.workspace, workspace_host_path, type="bind")]
    else:
        # The labels apply when this create makes the volume (the stage's first container).
        workspace = volumes["workspace"]
        mounts = [DockerMount(stage.workspace, workspace, type="volume", labels=labels)]
    for m in step.mounts:
        if m.kind == "workspace":
            continue  # the workspace is always mounted, at stage.workspace
        if m.kind == "host":
            mounts.append(DockerMount(m.target, m.source, type="bind", read_only=m.read_only))
        elif m.kind == "cache":
            mounts.append(DockerMount(m.target, cache_volume(stage, m), read_only=m.read_only))
        else:
            volume = volumes.get(m.source)
            if volume is None:
                raise EngineError(
                    f'step "{step.name}": volume "{m.source}" is not declared by the stage'
                )
            mounts.append(DockerMount(m.target, volume, read_only=m.read_only))
    return mounts


def pull_image(
    api: Any, image: str, log: LogSink, *, required: bool, auth: RegistryAuth | None = None
) -> None:
    """Pull ``image``, saying so in the step's log; with ``auth``, the engine receives it as
    the ``X-Registry-Auth`` of the pull (never the log). A failed pull raises ``EngineError``
    when the image is ``required`` (not on the agent), else logs a warning (a local one is
    used). A registry that refuses the credentials, or wants some, gives "cannot be pulled:
    unauthorized" and what to do."""
    log(f"pulling image {image}")
    error = ""
    config = {"username": auth.username, "password": auth.password} if auth else None
    try:
        # The SDK splits name, tag (default latest) and digest itself.
        for chunk in api.pull(image, stream=True, decode=True, auth_config=config):
            if chunk.get("error"):
                error = chunk["error"]
    except docker.errors.APIError as exc:
        error = exc.explanation or str(exc)
    if error and _UNAUTHORIZED.search(str(error)):
        error = _unauthorized(image, auth, str(error))
        if required:
            raise EngineError(error)
    if error and required:
        raise EngineError(
            f"image {image} is not on this agent and cannot be pulled: {error}; "
            "check the name, or load the image on the agent"
        )
    if error:
        log(f"warning: pull of {image} failed ({error}); using the local image")


def _unauthorized(image: str, auth: RegistryAuth | None, detail: str) -> str:
    """The reason of a pull the registry refused for want of (right) credentials."""
    host = image_host(image)
    if auth is None:
        hint = (
            f"no credentials for {host} were given: add them to the repository "
            f"(runner registry add OWNER/NAME {host} --username ...) or name a "
            "Docker config secret in image_pull_secrets"
        )
    else:
        hint = f"the registry refused user {auth.username} at {host}: check its password"
    return f"image {image} cannot be pulled: unauthorized ({detail}); {hint}"


def create_error(exc: Exception) -> str:
    """Why a step's container could not be created, for its ``error``."""
    if isinstance(exc, docker.errors.APIError):
        return f"cannot create the container: {exc.explanation or exc}"
    return str(exc)


def start_error(step: StepSpec, exc: docker.errors.APIError) -> str:
    """Why a step's container could not be started, with what to do when its image has no
    shell for ``commands``."""
    detail = str(exc.explanation or exc)
    if step.commands and "/bin/sh" in detail:
        return (
            f"image {step.image} has no /bin/sh, which commands need: use an image with a "
            "shell, or an entrypoint/command instead of commands"
        )
    return f"cannot start the container: {detail}"
