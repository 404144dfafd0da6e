"""Cron jobs: the schedule rule, and adding, changing and removing jobs of a repository.

One schedule rule for the pages, the API, the CLI and the scheduler: five cron fields
(minute hour day month weekday, UTC), or one of the descriptors Drone and Woodpecker accept
through robfig/cron — ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
(``@midnight``) and ``@hourly``. Every change is recorded in the audit log and told to the
scheduler, so a new job counts from its creation and a deleted one stops at once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

from runner.core import Build, Cron, Repo, User
from runner.errors import BadRequest, Conflict, NotFound
from runner.services.context import Hub

# robfig/cron's predefined schedules, as five fields ("Predefined schedules" of its doc.go).
DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Day-of-week names by cron's numbers: 0 and 7 are Sunday (crontab(5), robfig/cron), where
# APScheduler counts 0 as Monday; the field is handed to it as names.
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_WEEKDAY_PART = re.compile(r"^(\*|[0-7a-z]+(?:-[0-7a-z]+)?)(?:/([0-9]+))?$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_SCHEDULE = 200
CHANGEABLE = ("schedule", "branch", "enabled")


class BadSchedule(BadRequest, ValueError):
    """A schedule the rule refuses (a ``ValueError`` too, as a parser's refusal is)."""


def cron_trigger(schedule: str) -> CronTrigger:
    """The UTC trigger of ``schedule`` (five fields or a descriptor); ``BadSchedule`` saying
    what is accepted when it is neither."""
    text = schedule.strip() if isinstance(schedule, str) else ""
    fields = DESCRIPTORS.get(text.lower(), text)
    if text.startswith("@") and text.lower() not in DESCRIPTORS:
        raise BadSchedule(
            f"schedule {text[:40]!r} is not a known descriptor; use one of "
            f"{', '.join(DESCRIPTORS)} or five fields such as '0 3 * * *'"
        )
    if not text or len(text) > MAX_SCHEDULE or len(fields.split()) != 5:
        raise BadSchedule(
            f"schedule {text[:40]!r} is not a five-field cron expression (minute hour day "
            f"month weekday, e.g. '0 3 * * *') or a descriptor such as @hourly or @daily"
        )
    minute, hour, day, month, weekday = fields.split()
    try:
        days = _weekdays(weekday)
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=days, timezone=UTC
        )
    except ValueError as exc:
        raise BadSchedule(
            f"schedule {text[:40]!r} is not a five-field cron expression: {exc}"
        ) from None


def _weekdays(field: str) -> str:
    """Cron's day-of-week ``field`` (numbers 0-7 with 0 and 7 for Sunday, or names; ``*``,
    lists, ranges, steps) as the list of day names it means; ``ValueError`` when malformed."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        match = _WEEKDAY_PART.match(part)
        if match is None:
            raise ValueError(f"day of week {part!r} is not a day, a range or a step")
        span, step = match.group(1), int(match.group(2) or 1)
        if step < 1:
            raise ValueError(f"day of week {part!r} has a step of 0")
        if span == "*":
            first, last = 0, 6
        else:
            low, _, high = span.partition("-")
            first = _weekday(low)
            last = _weekday(high) if high else (6 if match.group(2) else first)
            if high and last == 0 and first > 0:
                last = 7  # "5-7" or "fri-sun": through Sunday
        if last < first:
            raise ValueError(f"day of week range {span!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(WEEKDAYS[day] for day in sorted(days))


def _weekday(token: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token[:3] in WEEKDAYS and len(token) == 3:
        return WEEKDAYS.index(token)
    raise ValueError(f"{token!r} is not a day of the week (0-7 or sun-sat)")


def check_schedule(schedule: str) -> str:
    """``schedule`` trimmed when the schedule rule accepts it; ``BadRequest`` otherwise."""
    cron_trigger(schedule)
    return schedule.strip()


def next_run(schedule: str, after: float) -> float:
    """The first time strictly after ``after`` (unix seconds) ``schedule`` fires; ``inf`` when
    never. ``BadRequest`` for a schedule the rule refuses."""
    start = datetime.fromtimestamp(after + 1, UTC)
    fire = cron_trigger(schedule).get_next_fire_time(None, start)
    return fire.timestamp() if fire else float("inf")


def check_name(name: object) -> str:
    """``name`` as a cron job's name (letters, digits, ``_ . -``, starting with a letter or
    digit, at most 100); ``BadRequest`` otherwise."""
    text = name.strip() if isinstance(name, str) else ""
    if not NAME.match(text):
        raise BadRequest(
            "a cron job needs a name of letters, digits, '_', '.' or '-' starting with a "
            "letter or digit (at most 100), e.g. nightly"
        )
    return text


def find_cron(hub: Hub, repo: Repo, name: str) -> Cron:
    """The cron job ``name`` of ``repo``; ``NotFound`` when there is none."""
    cron: Cron | None = hub.stores.crons.find(repo.id, name)
    if cron is None:
        raise NotFound(f"no cron {name} in {repo.slug}")
    return cron


def create_cron(
    hub: Hub, repo: Repo, actor: User, *, name: object, schedule: str, branch: str = ""
) -> Cron:
    """Add the cron job ``name`` to ``repo`` (``branch`` empty: the repository's default).
    ``BadRequest`` for a bad name or schedule, ``Conflict`` when the name is taken."""
    name = check_name(name)
    schedule = check_schedule(schedule)
    if hub.stores.crons.find(repo.id, name) is not None:
        raise Conflict(f"cron {name} exists in {repo.slug}")
    cron: Cron = hub.stores.crons.create(
        repo.id, name, schedule, branch=branch.strip() or repo.default_branch
    )
    _record(hub, repo, actor, "cron.created", f"{name} added: '{schedule}' on {cron.branch}")
    return cron


def update_cron(hub: Hub, repo: Repo, cron: Cron, actor: User, **fields: object) -> Cron:
    """Change the ``schedule``, ``branch`` or ``enabled`` flag of ``cron``; the schedule rule
    applies. ``BadRequest`` for another field or a bad value."""
    unknown = set(fields) - set(CHANGEABLE)
    if unknown:
        raise BadRequest(
            f"cannot change {', '.join(sorted(unknown))} of a cron job; "
            f"changeable: {', '.join(CHANGEABLE)}"
        )
    changes: dict[str, object] = {}
    if "schedule" in fields:
        changes["schedule"] = check_schedule(str(fields["schedule"]))
    if "branch" in fields:
        changes["branch"] = str(fields["branch"] or "").strip() or repo.default_branch
    if "enabled" in fields:
        if not isinstance(fields["enabled"], bool):
            raise BadRequest("enabled must be true or false")
        changes["enabled"] = fields["enabled"]
    updated: Cron = hub.stores.crons.update(cron.id, **changes)
    words = "; ".join(f"{key} {value}" for key, value in changes.items())
    _record(hub, repo, actor, "cron.changed", f"{cron.name} changed: {words or 'nothing'}")
    return updated


def delete_cron(hub: Hub, repo: Repo, cron: Cron, actor: User) -> None:
    """Remove ``cron`` from ``repo``; it never fires again."""
    hub.stores.crons.delete(cron.id)
    _record(hub, repo, actor, "cron.deleted", f"{cron.name} deleted")


def run_cron_now(hub: Hub, repo: Repo, cron: Cron, actor: User) -> Build:
    """The job's build now, at its branch tip, as the scheduler would make it (event ``cron``);
    counts as the job's run."""
    build: Build = hub.triggerer.cron(repo, cron)
    hub.stores.crons.mark_run(cron.id)
    _record(hub, repo, actor, "cron.run", f"{cron.name} run by hand: build #{build.number}")
    hub.wake_agents()
    return build


def subject(repo: Repo) -> str:
    """The audit log subject of a repository's cron jobs."""
    return f"repo:{repo.slug}"


def _record(hub: Hub, repo: Repo, actor: User, kind: str, message: str) -> None:
    hub.stores.audit.record(kind, subject(repo), f"cron {message}", actor.login, repo_id=repo.id)
    if hub.scheduler is not None:
        hub.scheduler.reload_crons()


def next_runs(hub: Hub, crons: list[Cron], now: float) -> dict[int, float]:
    """When each enabled job of ``crons`` fires next, by id: as the running scheduler plans it,
    else by its schedule from ``now`` (a job whose schedule the rule refuses, or that never
    fires again, is left out)."""
    planned: dict[int, float] = {}
    if hub.scheduler is not None:
        planned.update(hub.scheduler.next_runs())
    out: dict[int, float] = {}
    for cron in crons:
        if not cron.enabled:
            continue
        if cron.id in planned:
            out[cron.id] = planned[cron.id]
            continue
        try:
            out[cron.id] = next_run(cron.schedule, max(now, cron.last_run))
        except BadSchedule:
            continue
    return {cron_id: when for cron_id, when in out.items() if when != float("inf")}
