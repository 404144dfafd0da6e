"""The trust policy of the engines: what a step may ask for outside its container.

The Docker socket, privileged mode, host volumes and ``network_mode`` give a step power over
the agent's machine. They are allowed when the stage is trusted (a trusted repository, or
``runner exec --trusted``), when the engine is told to trust everything, or for images on the
agent's privileged list (the image build-and-push plugin by default). Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.errors import PolicyError
from runner.pipeline.spec import StageSpec, StepSpec

DOCKER_SOCKET = "/var/run/docker.sock"


def image_repository(image: str) -> str:
    """``image`` without its tag or digest: ``plugins/docker:20`` -> ``plugins/docker``."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def trust_reasons(step: StepSpec) -> list[str]:
    """What in ``step`` needs a trusted stage or an allow-listed image (empty: nothing)."""
    reasons = list(step.needs_trust)
    if step.privileged:
        reasons.append("privileged mode")
    for mount in step.mounts:
        if mount.kind == "host":
            what = "the Docker socket" if mount.source == DOCKER_SOCKET else "host volume"
            reasons.append(f"{what} {mount.source}")
    if step.network_mode:
        reasons.append(f"network_mode {step.network_mode}")
    return list(dict.fromkeys(reasons))


def image_allowed(image: str, privileged_images: Sequence[str]) -> bool:
    """True when ``image`` (any tag) is on the privileged list (entries with or without tag)."""
    repo = image_repository(image)
    return any(image == p or repo == image_repository(p) for p in privileged_images)


def check_policy(
    stage: StageSpec, *, trusted: bool = False, privileged_images: Sequence[str] = ()
) -> None:
    """Raise ``PolicyError`` naming every step of ``stage`` that asks for more than it may
    have, and what to do about it; return quietly when all is allowed."""
    if stage.trusted or trusted:
        return
    problems = []
    for step in [*stage.services, *stage.steps]:
        reasons = trust_reasons(step)
        if reasons and not image_allowed(step.image, privileged_images):
            problems.append(f'step "{step.name}" ({step.image}) asks for {", ".join(reasons)}')
    if problems:
        raise PolicyError(
            "refused by the trust policy: "
            + "; ".join(problems)
            + ". Mark the repository trusted (runner exec --trusted) or add the image to "
            "the agent's privileged images."
        )
