"""Actions on a repository's environments: add, change, delete.

Bodies use the names of the pipeline file's ``environments:`` declaration (``branches``,
``tags``, ``events``, ``labels``, ``approval``, ``approvals_required``, ``four_eyes``,
``rollback_exempt``, ``lock``) plus ``position``, and are checked by
``runner.environments.parse_declaration``: the pages, the API and the CLI share that rule.
Every change is recorded in the audit log with who made it.
"""

from __future__ import annotations

from typing import Any

from runner.core import Repo, User
from runner.environments import ALIASES, parse_declaration
from runner.errors import BadRequest, NotFound, PipelineError
from runner.services.values import MAX_NUMBER, whole_number
from runner.store import Stores
from runner.store.records import Environment

# Declaration keys → store fields.
FIELD_OF = {"approval": "approval_required"}


def declaration_fields(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Checked store fields for environment ``name`` from the declaration keys ``data`` names
    (none else); ``BadRequest`` saying what is wrong."""
    fields = {k: v for k, v in data.items() if k not in ("name", "position")}
    try:
        decl = parse_declaration({name: fields})[0]
    except PipelineError as exc:
        raise BadRequest(str(exc)) from None
    named = {FIELD_OF.get(ALIASES.get(k, k), k) for k in fields}
    out = {k: v for k, v in decl.store_fields().items() if k in named}
    if "position" in data:
        out["position"] = whole_number(data["position"], "position", low=-MAX_NUMBER)
    return out


def find_environment(stores: Stores, repo: Repo, name: str) -> Environment:
    """The environment ``name`` of ``repo``; ``NotFound`` when there is none."""
    env: Environment | None = stores.environments.find(repo.id, name)
    if env is None:
        raise NotFound(f"no environment {name!r}; list them with `runner env ls`")
    return env


def create_environment(
    stores: Stores, repo: Repo, actor: User, name: object, data: dict[str, Any]
) -> Environment:
    """Add environment ``name`` to ``repo`` with the declaration ``data``; ``BadRequest`` for
    a bad name or field, ``Conflict`` when the name is taken."""
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise BadRequest('an environment needs a name, e.g. {"name": "production"}')
    env: Environment = stores.environments.create(repo.id, text, **declaration_fields(text, data))
    words = f"environment {text} added"
    stores.audit.record("environment.created", subject(repo), words, actor.login, repo_id=repo.id)
    return env


def update_environment(
    stores: Stores, repo: Repo, env: Environment, actor: User, data: dict[str, Any]
) -> Environment:
    """Change the declaration fields ``data`` names of ``env``; the others stay."""
    fields = declaration_fields(env.name, data)
    updated: Environment = stores.environments.update(env.id, **fields)
    words = f"environment {env.name} changed: {', '.join(sorted(fields)) or 'nothing'}"
    stores.audit.record("environment.changed", subject(repo), words, actor.login, repo_id=repo.id)
    return updated


def delete_environment(stores: Stores, repo: Repo, env: Environment, actor: User) -> None:
    """Remove ``env`` from ``repo``."""
    stores.environments.delete(env.id)
    words = f"environment {env.name} deleted"
    stores.audit.record("environment.deleted", subject(repo), words, actor.login, repo_id=repo.id)


def subject(repo: Repo) -> str:
    """The audit log subject of a repository's environments."""
    return f"repo:{repo.slug}"
