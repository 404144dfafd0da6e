"""Actions on a repository's secrets: add, replace, delete. Values go in and never come out.

One rule for names (``NAME``), events and image filters, used by the API, the pages and the
CLI; every change is recorded in the audit log with who made it (never the value).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from runner.core import Repo, Secret, User
from runner.errors import BadRequest, Conflict, NotFound
from runner.services.values import flag
from runner.store import Stores

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")
EVENTS = ("push", "tag", "pull_request", "cron", "custom", "promote", "rollback")
# What a secret is given to when no events are named.
DEFAULT_EVENTS = ("push", "tag", "cron", "custom")

Mode = Literal["add", "replace", "set"]


def check_name(name: object) -> str:
    """``name`` as a secret's name: letters, digits, ``_ . -``, not starting with a digit
    (at most 200); ``BadRequest`` otherwise."""
    text = name.strip() if isinstance(name, str) else ""
    if not NAME.match(text):
        raise BadRequest(
            "a secret needs a name of letters, digits, '_', '.' or '-' not starting with a "
            "digit, e.g. DOCKER_PASSWORD"
        )
    return text


def check_value(value: object) -> str:
    """``value`` when it is non-empty text; ``BadRequest`` otherwise."""
    if not isinstance(value, str) or value == "":
        raise BadRequest("a secret needs a non-empty string value")
    return value


def check_options(data: dict[str, Any]) -> dict[str, Any]:
    """The filters given in ``data`` (``events``, ``images``, ``allow_pull_request``,
    ``environment``, ``substitute``), checked; ``BadRequest`` naming the wrong one."""
    out: dict[str, Any] = {}
    if "events" in data:
        events = data["events"]
        if not isinstance(events, list) or not all(e in EVENTS for e in events):
            raise BadRequest(f"events must be a list of {', '.join(EVENTS)}")
        out["events"] = list(events)
    if "images" in data:
        if not isinstance(data["images"], list):
            raise BadRequest("images must be a list of image names (globs allowed)")
        out["images"] = [str(i) for i in data["images"]]
    if "allow_pull_request" in data:
        out["allow_pull_request"] = flag(data["allow_pull_request"], "allow_pull_request")
    if "environment" in data:
        out["environment"] = str(data["environment"] or "").strip()
    if "substitute" in data:
        if not isinstance(data["substitute"], bool):
            raise BadRequest("substitute must be true or false")
        out["substitute"] = data["substitute"]
    return out


def set_secret(
    stores: Stores,
    repo: Repo,
    actor: User,
    name: object,
    value: object,
    options: dict[str, Any] | None = None,
    *,
    mode: Mode = "set",
) -> Secret:
    """Store secret ``name`` of ``repo`` with its filters (``check_options``). ``mode``
    ``add`` refuses a name in use (``Conflict``), ``replace`` a name not in use
    (``NotFound``), ``set`` adds or replaces.

    Names are case-insensitive, as Drone's are: ``replace`` of ``docker_password`` replaces
    ``DOCKER_PASSWORD`` (which keeps its name); ``add`` and ``set`` of a name that differs from
    one in use only by case are refused (``Conflict``), so two secrets never answer one name.
    """
    name = check_name(name)
    value = check_value(value)
    options = check_options(options or {})
    environment = options.get("environment", "")
    found = stores.secrets.find(repo.id, name, environment)
    exists = found is not None
    if found is not None and found.name != name and mode != "replace":
        raise Conflict(
            f"secret {found.name} exists and names are case-insensitive: "
            f"replace {found.name} or choose another name"
        )
    if found is not None:
        name = found.name
    if mode == "add" and exists:
        raise Conflict(f"secret {name} exists; replace it with PUT")
    if mode == "replace" and not exists:
        raise NotFound(f"no secret {name} in {repo.slug}; add it with POST")
    secret: Secret = stores.secrets.set(repo.id, name, value, **options)
    words = f"secret {name} {'replaced' if exists else 'added'}{_scope(environment)}"
    stores.audit.record("secret.set", subject(repo), words, actor.login, repo_id=repo.id)
    return secret


def edit_secret(
    stores: Stores,
    repo: Repo,
    actor: User,
    secret: Secret,
    value: object,
    options: dict[str, Any],
) -> Secret:
    """Change ``secret`` (one of ``repo``'s) to the filters ``options`` names
    (``check_options``); its value too unless ``value`` is empty or None, which keeps the
    stored one (values are write-only: an edit form cannot show it). ``Conflict`` when the
    environment it moves to has a secret of its name."""
    options = check_options(options)
    if secret.repo_id != repo.id:
        raise NotFound(f"no secret {secret.name} in {repo.slug}")
    environment = options.get("environment", secret.environment)
    if environment != secret.environment:
        other = stores.secrets.find(repo.id, secret.name, environment)
        if other is not None:
            raise Conflict(
                f"environment {environment} has a secret {other.name} already; edit that one"
            )
    new_value = None if value in (None, "") else check_value(value)
    changed: Secret = stores.secrets.update(secret.id, value=new_value, **options)
    what = "value replaced" if new_value is not None else "value kept"
    words = f"secret {secret.name} changed ({what}){_scope(environment)}"
    stores.audit.record("secret.set", subject(repo), words, actor.login, repo_id=repo.id)
    return changed


def delete_secret(
    stores: Stores, repo: Repo, actor: User, name: str, environment: str = ""
) -> None:
    """Delete secret ``name`` (of ``environment``, empty: every environment's) of ``repo``;
    ``NotFound`` when there is none."""
    if stores.secrets.find(repo.id, name, environment) is None:
        raise NotFound(f"no secret {name} in {repo.slug}")
    stores.secrets.delete(repo.id, name, environment)
    words = f"secret {name} deleted{_scope(environment)}"
    stores.audit.record("secret.deleted", subject(repo), words, actor.login, repo_id=repo.id)


def delete_secret_by_id(stores: Stores, repo: Repo, actor: User, secret_id: int) -> Secret | None:
    """Delete the secret of ``repo`` with id ``secret_id``; the one deleted, or None when the
    repository has no such secret."""
    for secret in stores.secrets.of_repo(repo.id):
        if secret.id == secret_id:
            delete_secret(stores, repo, actor, secret.name, secret.environment)
            found: Secret = secret
            return found
    return None


def subject(repo: Repo) -> str:
    """The audit log subject of a repository's secrets."""
    return f"repo:{repo.slug}"


def _scope(environment: str) -> str:
    # Names only, never values: the event log is read by everyone with the read role.
    return f" (environment {environment})" if environment else ""
