"""What an agent's claim may ask: its registration, narrowed by what it announces.

The registration itself (labels, capacity, scope) is made and changed by
``runner.services.agents``; an announcement beyond it gets no stage at all.
"""

from __future__ import annotations

import dataclasses

from runner.core import Agent
from runner.errors import Forbidden
from runner.labels import beyond, format_labels, narrow


def claim_identity(
    agent: Agent, declared: dict[str, str] | None, capacity: int | None
) -> tuple[Agent, int]:
    """The agent as it may claim now and the stages it may hold at once: its registration,
    narrowed by the ``declared`` labels and ``capacity`` it announces (None or no labels: not
    announced).

    Raises ``Forbidden`` naming the labels when ``declared`` reaches beyond the registration:
    such a claim gets no stage at all.
    """
    limit = agent.capacity if capacity is None else min(capacity, agent.capacity)
    if not declared:  # an agent started without --labels announces none: no narrowing
        return agent, limit
    labels = narrow(agent.labels, declared)
    if labels is None:
        extra = ", ".join(beyond(agent.labels, declared))
        raise Forbidden(
            f"agent {agent.name} announces labels {extra} beyond its registration "
            f"({format_labels(agent.labels)}): it gets no stage until an admin changes the "
            f"registration (runner agent set {agent.name} --labels ...) or it announces less"
        )
    return dataclasses.replace(agent, labels=labels), limit
