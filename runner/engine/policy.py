"""The trust policy of the engines: the agent's own check of what a stage asks for.

The server compiles a build with the rules of ``runner.pipeline.trust``; an engine applies the
same rules again, with the agent's privileged-image list, before it creates anything, so a
stage that reaches an agent by another way is held to them too. The engine may be told to trust
everything (``runner exec --trusted``). Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.errors import PolicyError
from runner.pipeline.spec import StageSpec
from runner.pipeline.trust import stage_refusals


def check_policy(
    stage: StageSpec, *, trusted: bool = False, privileged_images: Sequence[str] = ()
) -> None:
    """Raise ``PolicyError`` naming every step of ``stage`` that asks for more than its trust
    class allows, and what to do about it; return quietly when all is allowed."""
    refused = stage_refusals(stage, trusted=trusted, privileged_images=privileged_images)
    if refused:
        raise PolicyError(
            "refused by the trust policy: " + "; ".join(reason for _, reason in refused)
        )
