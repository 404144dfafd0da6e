"""Actions on agents: registration, changes with history, tokens, removal.

An agent's labels, capacity and scope (``allowed_repos``, ``allowed_environments``) are what
an admin registered for it, through the CLI, the API, the admin page or the server's own
settings for the embedded agent. Every registration and change is recorded in the audit log
(subject ``agent:<name>``) with who made it. What the agent announces on a claim only narrows
its registration (``runner.server.agents.claim_identity``).

Shared by the app factory, the API, the web UI and the CLI, which only adapt their input.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from runner.core import TOKEN_AGENT, Agent
from runner.errors import BadRequest
from runner.labels import beyond, format_labels, parse_labels
from runner.services.values import whole_number
from runner.store import Stores
from runner.store.audit import AuditEvent

MAX_CAPACITY = 1000
REGISTERED = ("labels", "capacity", "allowed_repos", "allowed_environments")


def subject(name: str) -> str:
    """The audit log subject of agent ``name``."""
    return f"agent:{name}"


def parse_registration(data: dict[str, Any]) -> dict[str, Any]:
    """The registered fields present in ``data`` (labels as a mapping or ``k=v,k2=v2``,
    capacity, ``allowed_repos`` / ``allowed_environments`` as lists or comma-separated text),
    checked; raises ``BadRequest`` saying which field is wrong. A field that is absent is not
    in the answer, so it keeps its value (or gets its default for a new agent)."""
    # Imported here: the RPC's field rules import this module's MAX_CAPACITY.
    from runner.server.rpc_fields import MAX_LABEL_TEXT, storable

    out: dict[str, Any] = {}
    if "labels" in data:
        try:
            labels = parse_labels(data["labels"] or {})
        except ValueError as exc:
            raise BadRequest(f"labels: {exc} (use k=v,k2=v2; a leading ! requires it)") from None
        for key, value in labels.items():
            storable(key, f"labels: the name {key!r:.40}", limit=MAX_LABEL_TEXT)
            storable(value, f"labels: the value of {key!r:.40}", limit=MAX_LABEL_TEXT)
        out["labels"] = labels
    if "capacity" in data:
        out["capacity"] = whole_number(data["capacity"], "capacity", low=1, high=MAX_CAPACITY)
    for key in ("allowed_repos", "allowed_environments"):
        if key in data:
            out[key] = _names(key, data[key])
    return out


def register_with_token(stores: Stores, data: dict[str, Any], *, actor: str) -> tuple[Agent, str]:
    """Register agent ``data["name"]`` and answer it with a new token (plain text, shown
    once): the one registration of the API, the admin page and the CLI.

    The registered fields given in ``data`` (see ``parse_registration``) make the
    registration; a field that is absent, None or empty text is not given: a new agent gets
    its default, an agent that exists keeps its value, so a new token never loses what an
    admin registered (clearing a field is a change: ``change_registration``). Raises
    ``BadRequest`` naming what is wrong; nothing is written then.
    """
    name = agent_name(data.get("name"))
    given = {key: data[key] for key in REGISTERED if data.get(key) not in (None, "")}
    agent = register_agent(stores, name, actor=actor, **parse_registration(given))
    return agent, issue_agent_token(stores, agent, actor=actor)


def change_registration(stores: Stores, agent: Agent, data: dict[str, Any], *, actor: str) -> Agent:
    """Change the registered fields given in ``data`` (an empty one clears it: no labels, any
    repository or environment); the others stay. ``BadRequest`` when a field is wrong or none
    is given. Recorded in the audit log with ``actor``."""
    fields = parse_registration(data)
    if not fields:
        raise BadRequest(
            "nothing to change: send labels, capacity, allowed_repos or allowed_environments"
        )
    return change_agent(stores, agent, actor=actor, **fields)


def agent_name(raw: Any) -> str:
    """``raw`` as an agent's name: text of 1 to 200 printable characters once trimmed (no NUL,
    control or lone surrogate: it names the agent's containers too); ``BadRequest``
    otherwise."""
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > 200 or not name.isprintable():
        raise BadRequest("an agent needs a name: text of up to 200 printable characters")
    return name


def _names(key: str, raw: Any) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise BadRequest(f"{key} must be a list of names or patterns (or text a,b)")
    names = [v.strip() for v in raw if v.strip()]
    if any(len(v) > 200 or not v.isprintable() for v in names):
        raise BadRequest(f"{key}: each entry must be at most 200 printable characters")
    return names


def register_agent(
    stores: Stores,
    name: str,
    *,
    labels: dict[str, str] | None = None,
    capacity: int | None = None,
    allowed_repos: list[str] | None = None,
    allowed_environments: list[str] | None = None,
    actor: str = "",
) -> Agent:
    """The agent ``name``, created with this registration (what is None gets its default: no
    labels, capacity 1, any repository and environment) or, when it exists, changed in what is
    not None, so that a new token for an agent keeps its registration. Recorded in the audit
    log as done by ``actor`` when new or changed."""
    given = {
        "labels": labels,
        "capacity": capacity,
        "allowed_repos": allowed_repos,
        "allowed_environments": allowed_environments,
    }
    given = {key: value for key, value in given.items() if value is not None}
    known: Agent | None = stores.agents.find(name)
    if known is not None:
        return change_agent(stores, known, actor=actor, **given)
    agent: Agent = stores.agents.create(
        name,
        labels=labels,
        capacity=1 if capacity is None else capacity,
        allowed_repos=allowed_repos,
        allowed_environments=allowed_environments,
    )
    stores.audit.record(
        "agent.registered",
        subject(agent.name),
        f"agent {agent.name} registered: {describe(agent)}",
        actor,
    )
    return agent


def change_agent(stores: Stores, agent: Agent, *, actor: str, **fields: Any) -> Agent:
    """Change the registered ``fields`` (of ``REGISTERED``) of ``agent``; the change is
    recorded in the audit log with ``actor``. Nothing changed: nothing recorded."""
    unknown = set(fields) - set(REGISTERED)
    if unknown:
        raise BadRequest(f"cannot change {', '.join(sorted(unknown))} of an agent")
    changed = {k: v for k, v in fields.items() if getattr(agent, k) != v}
    if not changed:
        return agent
    updated: Agent = stores.agents.update(agent.id, **changed)
    words = "; ".join(
        f"{key} {_show(key, getattr(agent, key))} → {_show(key, value)}"
        for key, value in changed.items()
    )
    stores.audit.record(
        "agent.changed", subject(agent.name), f"agent {agent.name} changed: {words}", actor
    )
    return updated


def describe(agent: Agent) -> str:
    """The registration in words: ``labels env=staging; capacity 2; repos any; ...``."""
    return "; ".join(f"{key} {_show(key, getattr(agent, key))}" for key in REGISTERED)


def _show(key: str, value: Any) -> str:
    if key == "labels":
        return format_labels(value)
    if isinstance(value, list):
        return ",".join(value) or "any"
    return str(value)


def history(stores: Stores, agent: Agent, limit: int = 200) -> list[AuditEvent]:
    """The audit log entries of ``agent``, newest first."""
    events: list[AuditEvent] = stores.audit.matching(subject=subject(agent.name), limit=limit)
    return events


def as_dict(agent: Agent) -> dict[str, Any]:
    """The agent for the API: its registration, what it announced and whether that fits."""
    out = dataclasses.asdict(agent)
    out["declared_beyond"] = beyond(agent.labels, agent.declared_labels)
    return out


def issue_agent_token(
    stores: Stores, agent: Agent, *, replace: bool = False, actor: str = ""
) -> str:
    """A new token for ``agent`` (plain text, shown once); ``replace`` revokes its older ones."""
    if replace:
        revoke_agent_tokens(stores, agent.id)
    plain: str
    _token, plain = stores.tokens.create(agent.name, kind=TOKEN_AGENT, agent_id=agent.id)
    if actor:
        stores.audit.record(
            "agent.token", subject(agent.name), f"agent {agent.name}: new token", actor
        )
    return plain


def revoke_agent_tokens(stores: Stores, agent_id: int) -> None:
    """Revoke every live token of the agent."""
    for token in stores.tokens.matching(kind=TOKEN_AGENT):
        if token.agent_id == agent_id and not token.revoked:
            stores.tokens.revoke(token.id)


def revoke_agent(stores: Stores, agent: Agent, *, actor: str) -> None:
    """Revoke every token of ``agent`` (recorded): its next call is refused."""
    revoke_agent_tokens(stores, agent.id)
    stores.audit.record(
        "agent.revoked", subject(agent.name), f"agent {agent.name}: tokens revoked", actor
    )


def remove_agent(stores: Stores, agent: Agent, *, actor: str) -> None:
    """Revoke the agent's tokens and delete its registration (recorded)."""
    revoke_agent_tokens(stores, agent.id)
    stores.agents.delete(agent.id)
    stores.audit.record(
        "agent.removed",
        subject(agent.name),
        f"agent {agent.name} removed, its tokens revoked",
        actor,
    )
