"""Label matching between a stage and an agent.

A stage asks for labels (``node:`` in Drone, ``labels:`` in Woodpecker, or its environment's
labels); an agent offers labels. An agent label written ``!key=value`` is *required*: the agent
offers it and also takes only stages that ask for it, so an agent inside the production network
started with ``--labels env=production,!env=production`` runs production work and nothing else.
"""

from __future__ import annotations

from typing import Any

from runner.globs import glob_match

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


def value_allowed(value: str, pattern: str) -> bool:
    """Whether a label ``value`` fits ``pattern``: a ``runner.globs`` glob, where a bare ``*``
    takes any value, ``/`` included (Woodpecker 2's agent filter, ``createFilterFunc``: an
    agent label ``*`` takes any value, others are ``doublestar.Match`` patterns)."""
    return pattern == "*" or glob_match(value, pattern)


def _value_fits(offered: str, asked: str) -> bool:
    # A glob on either side widens the match: an agent offering "linux/*" takes
    # "linux/arm64", a stage asking "*" takes any value of that key.
    return value_allowed(asked, offered) or value_allowed(offered, asked)


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


def narrow(registered: dict[str, str], declared: dict[str, str]) -> dict[str, str] | None:
    """The labels an agent claims with when it announces ``declared``: those labels plus the
    labels its registration requires, or None when ``declared`` reaches beyond ``registered``.

    An announcement may drop labels or narrow a value (registered ``arch=linux/*``, announced
    ``arch=linux/arm64``); it may not add a key, change a value (``env=production`` against a
    registered ``env=staging``) or widen one (``*``). Labels the registration requires stay
    required whatever is announced: dropping one would let the agent take other work.
    """
    reg_offered, reg_required = split_agent_labels(registered)
    for key, value in split_agent_labels(declared)[0].items():
        if key not in reg_offered or not value_allowed(value, reg_offered[key]):
            return None
    out = dict(declared)
    for key, value in reg_required.items():
        out.pop(key, None)
        out[REQUIRED_PREFIX + key] = value
    return out


def beyond(registered: dict[str, str], declared: dict[str, str]) -> list[str]:
    """The announced labels (``k=v``) that the registration does not allow, for messages."""
    reg_offered = split_agent_labels(registered)[0]
    return [
        f"{key}={value}"
        for key, value in sorted(split_agent_labels(declared)[0].items())
        if key not in reg_offered or not value_allowed(value, reg_offered[key])
    ]


def format_labels(labels: dict[str, str]) -> str:
    """``k=v,k2=v2`` (sorted), or ``(none)``."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(none)"


def parse_labels(raw: Any) -> dict[str, str]:
    """Labels from a mapping, a ``k=v`` list, or ``"k=v,k2=v2"`` (empty parts skipped, keys
    and values stripped); ``ValueError`` saying which label is wrong otherwise. The one reader
    of ``k=v`` lists from people: environments (file, API, web form), agent registration and
    ``--labels``, and the settings' mapping values (``RUNNER_AGENT_LABELS``, ...)."""
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, str | list):
        parts = [p for p in raw.split(",") if p.strip()] if isinstance(raw, str) else raw
        items = []
        for part in parts:
            if not isinstance(part, str) or "=" not in part:
                shown = part.strip() if isinstance(part, str) else part
                raise ValueError(f"label {shown!r} is not key=value")
            key, _, val = part.partition("=")
            items.append((key.strip(), val.strip()))
    else:
        raise ValueError("not a mapping of labels")
    out = {}
    for key, val in items:
        if not str(key).strip():
            raise ValueError(f"label {key}={val} has no key")
        if isinstance(val, dict | list):
            raise ValueError(f"label {key!r} needs a plain value")
        out[str(key).strip()] = _label_value(val)
    return out


def _label_value(val: Any) -> str:
    if val is None:
        return ""
    if isinstance(val, bool):
        return "true" if val else "false"  # YAML reads `on: yes` as a boolean
    return str(val)
