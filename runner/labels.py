"""Label matching between a stage and an agent.

A stage asks for labels (``node:`` in Drone, ``labels:`` in Woodpecker, or its environment's
labels); an agent offers labels. An agent label written ``!key=value`` is *required*: the agent
offers it and also takes only stages that ask for it, so an agent inside the production network
started with ``--labels env=production,!env=production`` runs production work and nothing else.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

REQUIRED_PREFIX = "!"


def split_agent_labels(labels: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Split an agent's labels into (offered, required); a required label is also offered."""
    offered: dict[str, str] = {}
    required: dict[str, str] = {}
    for key, value in labels.items():
        if key.startswith(REQUIRED_PREFIX):
            name = key[len(REQUIRED_PREFIX) :]
            required[name] = value
            offered.setdefault(name, value)
        else:
            offered[key] = value
    return offered, required


def _value_fits(offered: str, asked: str) -> bool:
    # "*" or a glob on either side widens the match: an agent offering "linux/*" takes
    # "linux/arm64", a stage asking "*" takes any value of that key.
    return fnmatchcase(asked, offered) or fnmatchcase(offered, asked)


def matches(
    stage_labels: dict[str, str],
    agent_labels: dict[str, str],
    agent_required: dict[str, str] | None = None,
) -> bool:
    """Whether an agent with ``agent_labels`` (and ``agent_required``) may take the stage.

    Every label the stage asks for must be offered by the agent (values compared with ``*``
    wildcards on either side); every label the agent requires must be asked for by the stage.
    ``agent_labels`` may still hold ``!key`` entries; they are split off here.
    """
    offered, required = split_agent_labels(agent_labels)
    required.update(agent_required or {})
    for key, value in required.items():
        offered.setdefault(key, value)
    for key, asked in stage_labels.items():
        if key not in offered or not _value_fits(offered[key], str(asked)):
            return False
    for key, value in required.items():
        if key not in stage_labels or not _value_fits(value, str(stage_labels[key])):
            return False
    return True


def describe(stage_labels: dict[str, str]) -> str:
    """A person's words for what a waiting stage needs: ``an agent with env=production``."""
    if not stage_labels:
        return "any agent"
    wanted = ", ".join(f"{k}={v}" for k, v in sorted(stage_labels.items()))
    return f"an agent with {wanted}"
