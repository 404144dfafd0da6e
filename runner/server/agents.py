"""Registration of agents and their tokens, shared by the app factory, the API and the CLI."""

from __future__ import annotations

from runner.core import TOKEN_AGENT, Agent


def register_agent(stores, name: str, *, labels: dict[str, str], capacity: int) -> Agent:
    """The agent ``name``, created or updated with these labels and capacity."""
    agent = stores.agents.find(name)
    if agent is None:
        return stores.agents.create(name, labels=labels, capacity=capacity)
    return stores.agents.update(agent.id, labels=labels, capacity=capacity)


def issue_agent_token(stores, agent: Agent, *, replace: bool = False) -> str:
    """A new token for ``agent`` (plain text, shown once); ``replace`` revokes its older ones."""
    if replace:
        revoke_agent_tokens(stores, agent.id)
    _token, plain = stores.tokens.create(agent.name, kind=TOKEN_AGENT, agent_id=agent.id)
    return plain


def revoke_agent_tokens(stores, agent_id: int) -> None:
    """Revoke every live token of the agent."""
    for token in stores.tokens.list(kind=TOKEN_AGENT):
        if token.agent_id == agent_id and not token.revoked:
            stores.tokens.revoke(token.id)
