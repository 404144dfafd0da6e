"""The Docker socket for this project's docker plugin, under any of its names, run as shipped.

Drone runs the images of its privileged list privileged without the file asking: Drone 0.8's
``DRONE_ESCALATE`` (drone/drone 0.8 cmd/drone-server/server.go, default ``plugins/docker``,
``plugins/gcr``, ``plugins/ecr``; drone-docker's README, "Special privileges") and
drone-runner-docker's ``DRONE_RUNNER_PRIVILEGED_IMAGES`` (engine/compiler/compiler.go,
``isPrivileged``), so a file says ``image: plugins/docker`` and nothing more. This project's
image-building plugin talks to the agent's engine through its socket rather than to a Docker
daemon of its own in a privileged container, so for it the same grant is the socket: a step of
one of its names (``SOCKET_PLUGIN_IMAGES``; ``runner plugin build`` tags it ``plugins/docker``
too) that is on the agent's privileged list and runs its image's own program gets
``/var/run/docker.sock`` mounted, then faces the trust rules (``runner.pipeline.trust.refusal``)
as if it had asked for it. It needs no privileged mode. Other listed images are not touched.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.pipeline.spec import KIND_STEP, Mount, StageSpec
from runner.pipeline.trust import (
    DOCKER_SOCKET,
    FORK,
    SOCKET_PLUGIN_IMAGES,
    changes_to_plugin,
    image_matches,
    privileges,
)


def grant_docker_socket(
    stage: StageSpec, privileged_images: Sequence[str], *, fork_privileged: bool = False
) -> list[str]:
    """Mount the Docker socket into every step of ``stage`` whose image is one of
    ``SOCKET_PLUGIN_IMAGES`` and on ``privileged_images``, and runs as shipped (no
    ``commands``, ``entrypoint``, ``command`` or other host path, as Drone drops the privilege
    of such a step), unless the step mounts it already. A fork's stage gets nothing unless
    ``fork_privileged``: the step then runs without the socket, as Drone's would run
    unprivileged. Returns the names of the steps granted."""
    if stage.trust == FORK and not fork_privileged:
        return []
    granted = []
    for step in stage.steps:
        if step.kind != KIND_STEP or not image_matches(step.image, SOCKET_PLUGIN_IMAGES):
            continue
        if not image_matches(step.image, privileged_images):
            continue
        if changes_to_plugin(step) or any(m.target == DOCKER_SOCKET for m in step.mounts):
            continue
        step.mounts.append(Mount(kind="host", source=DOCKER_SOCKET, target=DOCKER_SOCKET))
        step.needs_trust = privileges(step)
        granted.append(step.name)
    return granted
