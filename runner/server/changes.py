"""Per-process fan-out of build, stage and step changes to live subscribers (the event stream).

Every commit that writes a build, stage or step row is noticed by the database
(``Database.on_state_commit``), whoever made it: the agents' RPC, an action of a person, the
lease reaper, the triggerer. The ``ChangeWatcher`` thread then reads again, once, each build that
someone follows and each followed repository's unfinished builds, compares them with what it
saw last, and hands the differences to the ``ChangeHub``. So one read serves every viewer of a
build, however many there are, and a write nobody watches costs the setting of a flag.

Each subscriber has a bounded buffer, as in ``runner.server.livelog``: a slow reader loses its
oldest events and is told so (``lost``), and then reads the state again instead of the events.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from runner.core import DONE_STATUSES, Build
from runner.errors import NotFound

log = logging.getLogger(__name__)

Event = dict[str, Any]

# Events buffered for one subscriber; beyond it the oldest are dropped and ``lost`` is set.
MAX_BUFFERED_EVENTS = 256
# Seconds the watcher waits after a write before reading, so a burst of writes is read once.
SETTLE_SECONDS = 0.05
# Seconds between reads while nothing is written (wait reasons follow the agents, which are not
# build rows).
IDLE_SECONDS = 10.0

# The fields of a build's state whose change is an event; durations are not (they tick).
BUILD_FIELDS = ("status", "started", "finished")
STAGE_FIELDS = ("status", "why", "started", "finished")
STEP_FIELDS = ("status", "exit_code", "error", "started", "finished")


class ChangeSubscription:
    """The change events of some builds and repositories for one reader (``ChangeHub.subscribe``).

    ``drain()`` takes what arrived; ``wake`` (if given) is called on every arrival, from the
    publishing thread. Consume it from one thread; ``close`` may come from any.
    """

    def __init__(
        self,
        hub: ChangeHub,
        builds: set[int],
        repos: set[int],
        wake: Callable[[], None] | None,
        max_events: int,
    ):
        self.builds = builds
        self.repos = repos
        self.lost = False  # events were dropped: read the state again
        self._hub = hub
        self._wake = wake
        self._lock = threading.Lock()
        self._items: deque[Event] = deque()
        self._max = max_events

    def _push(self, event: Event) -> None:
        with self._lock:
            self._items.append(event)
            if len(self._items) > self._max:
                self._items.popleft()
                self.lost = True
        if self._wake is not None:
            self._wake()

    def drain(self) -> list[Event]:
        """The events that arrived since the last call, oldest first."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items

    def forget(self, build_id: int) -> None:
        """Stop receiving the build's events (it was deleted)."""
        self._hub._drop_build(self, build_id)

    def close(self) -> None:
        """Stop receiving; safe twice and from another thread."""
        self._hub._remove(self)


class ChangeHub:
    """Fan-out of change events by build id and repository id. Thread-safe."""

    def __init__(self, *, max_events: int = MAX_BUFFERED_EVENTS):
        self._lock = threading.Lock()
        self._by_build: dict[int, set[ChangeSubscription]] = {}
        self._by_repo: dict[int, set[ChangeSubscription]] = {}
        self._max_events = max_events
        self.on_subscribe: Callable[[], None] | None = None  # the watcher's wake-up
        # Moves on with every committed build, stage or step write of this process (``bump``):
        # with ``boot`` it says "nothing was written since" for conditional requests.
        self.generation = 0
        self.boot = uuid.uuid4().hex[:12]

    def bump(self) -> None:
        """A build, stage or step write was committed (called by the database's hook)."""
        self.generation += 1

    def subscribe(
        self,
        builds: Iterable[int] = (),
        repos: Iterable[int] = (),
        *,
        wake: Callable[[], None] | None = None,
    ) -> ChangeSubscription:
        """Receive the events of these builds (state changes, deletion) and repositories
        (a build appeared or changed status); close it when done."""
        sub = ChangeSubscription(self, set(builds), set(repos), wake, self._max_events)
        with self._lock:
            for build_id in sub.builds:
                self._by_build.setdefault(build_id, set()).add(sub)
            for repo_id in sub.repos:
                self._by_repo.setdefault(repo_id, set()).add(sub)
        if self.on_subscribe is not None:
            self.on_subscribe()
        return sub

    def publish(self, event: Event) -> None:
        """Hand ``event`` to the subscribers of its ``build_id`` and of its ``repo_id``."""
        with self._lock:
            targets = set(self._by_build.get(event.get("build_id", 0), ()))
            if event.get("type") != "state":
                targets |= self._by_repo.get(event.get("repo_id", 0), set())
        for sub in targets:
            sub._push(event)

    def watched(self) -> tuple[set[int], set[int]]:
        """The build ids and the repository ids somebody follows now."""
        with self._lock:
            return set(self._by_build), set(self._by_repo)

    def _drop_build(self, sub: ChangeSubscription, build_id: int) -> None:
        with self._lock:
            sub.builds.discard(build_id)
            _discard(self._by_build, build_id, sub)

    def _remove(self, sub: ChangeSubscription) -> None:
        with self._lock:
            for build_id in sub.builds:
                _discard(self._by_build, build_id, sub)
            for repo_id in sub.repos:
                _discard(self._by_repo, repo_id, sub)


def _discard(index: dict[int, set[ChangeSubscription]], key: int, sub: ChangeSubscription) -> None:
    subs = index.get(key)
    if subs is not None:
        subs.discard(sub)
        if not subs:
            del index[key]


def state_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[Event]:
    """What differs between two states of one build (as ``describe`` gives them): the build's
    own fields, and each stage and step whose fields changed, with their new values."""
    old = old or {"stages": []}
    changes: list[Event] = []
    if any(old.get(k) != new.get(k) for k in BUILD_FIELDS):
        changes.append({"kind": "build", **{k: new.get(k) for k in BUILD_FIELDS}})
    old_stages = {s["id"]: s for s in old.get("stages", [])}
    for stage in new.get("stages", []):
        before = old_stages.get(stage["id"], {})
        if any(before.get(k) != stage.get(k) for k in STAGE_FIELDS):
            changes.append(
                {"kind": "stage", "id": stage["id"], **{k: stage.get(k) for k in STAGE_FIELDS}}
            )
        old_steps = {s["id"]: s for s in before.get("steps", [])}
        for step in stage.get("steps", []):
            was = old_steps.get(step["id"], {})
            if any(was.get(k) != step.get(k) for k in STEP_FIELDS):
                changes.append(
                    {"kind": "step", "id": step["id"], **{k: step.get(k) for k in STEP_FIELDS}}
                )
    return changes


class ChangeWatcher:
    """The thread that turns noticed writes into events for the followed builds and repositories.

    ``describe(build)`` gives a build's state as the pages and the event stream show it (a
    JSON-able dict with ``stages[].steps[]``); it runs on the watcher's thread, inside the
    ``context`` given to ``start`` (the Flask application's context).
    """

    def __init__(
        self,
        hub: ChangeHub,
        stores: Any,
        describe: Callable[[Build], dict[str, Any]],
        *,
        settle: float = SETTLE_SECONDS,
        idle: float = IDLE_SECONDS,
    ):
        self.hub = hub
        self._stores = stores
        self._describe = describe
        self._settle = settle
        self._idle = idle
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._known: dict[int, dict[str, Any]] = {}  # build id -> last state published
        self._active: dict[int, tuple[int, int, str]] = {}  # build id -> (repo, number, status)
        self._slugs: dict[int, str] = {}
        self._last_full = 0.0
        hub.on_subscribe = self.notify

    def notify(self) -> None:
        """A build, stage or step was written (or a reader came): read again soon."""
        self._dirty.set()

    def start(self, context: Callable[[], Any]) -> None:
        """Start the thread; ``context()`` is entered around its work (an app context)."""
        self._thread = threading.Thread(
            target=self._run, args=(context,), name="change-watcher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (at shutdown)."""
        self._stop.set()
        self._dirty.set()

    def _run(self, context: Callable[[], Any]) -> None:
        with context():
            while not self._stop.is_set():
                self._dirty.wait(self._idle)
                if self._stop.is_set():
                    return
                self._stop.wait(self._settle)
                self._dirty.clear()
                try:
                    now = time.monotonic()
                    # Finished builds are looked at again (were they deleted?) only this often.
                    full = now - self._last_full >= self._idle
                    if full:
                        self._last_full = now
                    self.scan(full=full)
                except Exception:  # a database hiccup must not end live updates for good
                    log.exception("reading build changes failed; trying again")

    def scan(self, full: bool = True) -> None:
        """Read the followed builds and repositories once and publish what changed. A finished
        build does not change any more (but for its deletion): it is read again only on a
        ``full`` scan, so a write costs the followed builds that can still change, however
        many finished ones are followed."""
        builds, repos = self.hub.watched()
        self._scan_repos(repos)
        for build_id in list(self._known):
            if build_id not in builds:
                del self._known[build_id]
        for build_id in builds:
            old = self._known.get(build_id)
            if not full and old is not None and old.get("status") in DONE_STATUSES:
                continue
            self._scan_build(build_id)

    def _slug(self, repo_id: int) -> str:
        if repo_id not in self._slugs:
            self._slugs[repo_id] = self._stores.repos.get(repo_id).slug
        return self._slugs[repo_id]

    def _scan_build(self, build_id: int) -> None:
        try:
            build = self._stores.builds.get(build_id)
        except NotFound:
            self._known.pop(build_id, None)
            self.hub.publish({"type": "deleted", "build_id": build_id})
            return
        state = self._describe(build)
        old = self._known.get(build_id)
        # The first look names no changes: its readers got the state when they subscribed, and
        # this covers whatever changed in between.
        changes = state_changes(old, state) if old is not None else []
        self._known[build_id] = state
        if changes or old is None:
            self.hub.publish(
                {
                    "type": "state",
                    "build_id": build_id,
                    "repo_id": build.repo_id,
                    "repo": self._slug(build.repo_id),
                    "number": build.number,
                    "changes": changes,
                    "state": state,
                }
            )

    def _scan_repos(self, repos: set[int]) -> None:
        if not repos:
            self._active = {}
            return
        now = {
            b.id: (b.repo_id, b.number, b.status)
            for b in self._stores.builds.active()
            if b.repo_id in repos
        }
        for build_id, (repo_id, number, status) in now.items():
            if self._active.get(build_id) != (repo_id, number, status):
                self._publish_row(build_id, repo_id, number, status)
        for build_id in self._active.keys() - now.keys():
            repo_id, number, _ = self._active[build_id]
            try:
                status = self._stores.builds.header(build_id).status
            except NotFound:
                status = "deleted"
            self._publish_row(build_id, repo_id, number, status)
        self._active = now

    def _publish_row(self, build_id: int, repo_id: int, number: int, status: str) -> None:
        self.hub.publish(
            {
                "type": "build",
                "build_id": build_id,
                "repo_id": repo_id,
                "repo": self._slug(repo_id),
                "number": number,
                "status": status,
            }
        )
