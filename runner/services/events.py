"""The event log: reading it with filters, and the entries of builds.

Every action of the services records its entry where it happens (``stores.audit.record``);
builds are recorded by the Triggerer when made and by ``runner.services.builds`` when
cancelled, approved or declined, through ``record_build`` here. Reads are one rule for the API,
the pages and the CLI: ``read_filter`` checks the query (``kind``, ``actor``, ``since``,
``until``, ``before``, ``limit``) and ``events_of`` / ``server_events`` answer a page, newest
first. A repository's log is read with the read role on it; the server's log (every entry) by
server admins — the adapters check that. What a repository's log shows depends on the role
(``kinds_for``): readers and writers see the entries of builds, environments and crons, whose
lists they may read; secrets, registries, roles, the webhook secret and the settings are in the
admins' lists only, so their entries are shown only to the repository's admins (server admins
hold that role everywhere).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from collections.abc import Mapping
from typing import Any

from runner.core import DONE_STATUSES, ERROR, ROLE_ADMIN, ROLE_READ, ROLE_WRITE, Build, Repo
from runner.errors import BadRequest
from runner.services.values import whole_number
from runner.store import Stores
from runner.store.audit import AuditDraft, AuditEvent, AuditFilter

__all__ = [
    "AuditEvent",
    "AuditFilter",
    "as_json",
    "build_entry",
    "events_of",
    "kinds_for",
    "read_filter",
    "record_build",
    "new_build_entry",
    "server_events",
    "slugs_of",
]
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_ACTOR = 200
MAX_ARGUMENT = 300  # any query argument, before its own rule
KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]*)*$")
MAX_KIND = 50
RELATIVE = re.compile(r"^([0-9]{1,6})([smhdw])$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# The kind prefixes of a repository's log each role reads; None is every entry. They follow the
# roles of the list endpoints: builds, environments and crons are listed with the read role;
# secrets, registries, roles, the webhook and the settings (``repo.``) with the admin role.
# A kind not named here is the admins' until it is added.
READER_KINDS = ("build.", "environment.", "cron.")
KINDS_BY_ROLE: dict[str, tuple[str, ...] | None] = {
    ROLE_READ: READER_KINDS,
    ROLE_WRITE: READER_KINDS,
    ROLE_ADMIN: None,
}


def build_subject(repo: Repo, build: Build) -> str:
    """The subject of a build's entries: ``build:acme/app#7``."""
    return f"build:{repo.slug}#{build.number}"


def build_entry(repo: Repo, build: Build, kind: str, actor: str, words: str) -> AuditDraft:
    """The entry ``build.<kind>`` of ``build`` in its repository's log: ``build #7 <words>``."""
    return AuditDraft(
        f"build.{kind}", build_subject(repo, build), f"build #{build.number} {words}", actor
    )


def record_build(
    stores: Stores, build: Build, kind: str, actor: str, words: str, repo: Repo | None = None
) -> AuditEvent:
    """Record ``build.<kind>`` of ``build`` in its repository's log: ``build #7 <words>``.
    ``repo`` is the build's repository, read from the store when not given."""
    if repo is None:
        repo = stores.repos.get(build.repo_id)
    entry = build_entry(repo, build, kind, actor, words)
    event: AuditEvent = stores.audit.record(
        entry.kind, entry.subject, entry.message, entry.actor, repo_id=build.repo_id
    )
    return event


def new_build_entry(repo: Repo, build: Build, origin: str) -> AuditDraft:
    """The entry of a build the Triggerer makes, written with the build
    (``BuildStore.create``): ``build.created`` (webhook, API, cron), ``build.restarted``,
    ``build.rerun`` (the failed stages of a build run again, naming them), ``build.promoted``
    or ``build.rolled_back``. The actor is the build's sender, or ``webhook`` / ``cron`` when
    the event names nobody."""
    actor = build.sender or ("cron" if origin == "cron" else "webhook")
    parent = f"#{build.parent}" if build.parent else "a build"
    if origin == "restart":
        kind, words = "restarted", f"restarts {parent}"
    elif origin == "rerun":
        again = [s.name for s in build.stages if s.status not in DONE_STATUSES]
        names = ", ".join(again) or "none"
        kind, words = "rerun", f"re-runs the failed stages of {parent}: {names}"
    elif build.event == "promote":
        kind, words = "promoted", f"promotes {parent} to {build.target}"
    elif build.event == "rollback":
        kind, words = "rolled_back", f"rolls {build.target} back to {parent}"
    else:
        where = f"tag {build.tag}" if build.tag else build.branch or build.ref
        what = build.event
        if build.event == "cron" and (build.context or {}).get("cron"):
            what = f"cron {build.context['cron']}"
        kind, words = "created", f"created: {what} of {where}"
    words += f" ({build.commit[:7]})" if build.commit else ""
    if build.status == ERROR:
        words += " in error"
    return build_entry(repo, build, kind, actor, words)


def read_filter(args: Mapping[str, Any], *, now: float | None = None) -> tuple[AuditFilter, int]:
    """The filter and the page size a query asks for; ``BadRequest`` naming a wrong argument.

    ``kind``: a dotted kind (``build.cancelled``) or a prefix ending with ``.`` (``build.``;
    ``build.*`` means the same). ``actor``: a login, ``webhook`` or ``cron``. ``since`` and
    ``until``: seconds since 1970, a date or time (``2026-12-05``, ``2026-12-05T21:00``, UTC
    unless it names its zone) or an age (``30m``, ``2h``, ``7d``). ``before``: an entry id
    (the next page starts below the last id seen). ``limit``: 1 to ``MAX_LIMIT``.
    """
    clock = time.time() if now is None else now
    kind = _text(args, "kind")
    if kind.endswith(".*"):
        kind = kind[:-1]
    if kind and (len(kind) > MAX_KIND or not KIND.match(kind)):
        raise BadRequest("kind is a dotted word such as build.cancelled, or a prefix like build.")
    actor = _text(args, "actor")
    if len(actor) > MAX_ACTOR:
        raise BadRequest(f"actor has at most {MAX_ACTOR} characters")
    before = _text(args, "before")
    limit = _text(args, "limit")
    wanted = AuditFilter(
        kind=kind or None,
        actor=actor or None,
        since=_moment(_text(args, "since"), "since", clock),
        until=_moment(_text(args, "until"), "until", clock),
        before=whole_number(before, "before", low=1) if before else None,
    )
    size = whole_number(limit, "limit", low=1, high=MAX_LIMIT) if limit else DEFAULT_LIMIT
    return wanted, size


def kinds_for(role: str) -> tuple[str, ...] | None:
    """The kind prefixes of a repository's log that a user holding ``role`` on it reads:
    None for every entry (admins), no prefix at all for no role."""
    return KINDS_BY_ROLE.get(role, ())


def events_of(
    stores: Stores, repo: Repo, wanted: AuditFilter, limit: int, *, role: str
) -> list[AuditEvent]:
    """The newest ``limit`` entries of ``repo``'s log that ``wanted`` selects and that a user
    holding ``role`` on ``repo`` may see (``kinds_for``). The role is the caller's to find;
    the rule is applied in the store's query, so a page holds ``limit`` visible entries."""
    where = dataclasses.replace(_with_repo(wanted, repo.id), kinds=kinds_for(role))
    return stores.audit.matching(where=where, limit=limit)


def server_events(
    stores: Stores, wanted: AuditFilter, limit: int, repo: Repo | None = None
) -> list[AuditEvent]:
    """The newest ``limit`` entries of the server's log (every repository's and the server's
    own), or only ``repo``'s when given."""
    if repo is not None:
        wanted = _with_repo(wanted, repo.id)
    return stores.audit.matching(where=wanted, limit=limit)


def slugs_of(stores: Stores, events: list[AuditEvent]) -> dict[int, str]:
    """The slugs of the repositories ``events`` belong to, by id."""
    ids = sorted({e.repo_id for e in events if e.repo_id is not None})
    return {r.id: r.slug for r in stores.repos.matching(ids=ids)} if ids else {}


def as_json(event: AuditEvent, slugs: Mapping[int, str]) -> dict[str, Any]:
    """An entry as the API answers it: ``{id, kind, repo, subject, message, actor, created}``;
    ``repo`` is the repository's slug, or None for the server's own entries."""
    repo = slugs.get(event.repo_id) if event.repo_id is not None else None
    return {
        "id": event.id,
        "kind": event.kind,
        "repo": repo,
        "subject": event.subject,
        "message": event.message,
        "actor": event.actor,
        "created": event.created,
    }


def _with_repo(wanted: AuditFilter, repo_id: int) -> AuditFilter:
    return dataclasses.replace(wanted, repo_id=repo_id)


def _text(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_ARGUMENT:
        raise BadRequest(f"{name} must be short text")
    return value.strip()


def _moment(text: str, name: str, now: float) -> float | None:
    """Seconds since 1970 of ``text`` (a number, an ISO date or time, or an age); None if empty."""
    if not text:
        return None
    age = RELATIVE.match(text)
    if age:
        return now - int(age.group(1)) * SECONDS[age.group(2)]
    if re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,6})?", text):
        return float(text)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{name} is seconds since 1970, a date or time such as 2026-12-05T21:00 (UTC), "
            "or an age such as 30m, 2h or 7d"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()
