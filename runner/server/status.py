"""Commit statuses: a build's state reported to its forge when it is created, starts and ends.

``StatusReporter.build_changed(build)`` may be called from any thread, as often as wanted: it
only queues the build id. One background thread loads the build, and when its status differs
from the last one reported sends it through the repository's ``StatusClient``
(``runner.forges.status_client``). A forge that refuses or does not answer is logged, never
retried forever and never fails the build. ``poll()`` (run by the scheduler every few seconds)
catches the changes nobody announced: builds started by an agent, builds that ended.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from runner.core import Build, Repo
from runner.errors import NotFound, RunnerError
from runner.forges import StatusReport, status_client
from runner.pipeline.environ import build_page_url

if TYPE_CHECKING:
    import requests

    from runner.server.services import Services
    from runner.settings import Settings
    from runner.store import Stores

log = logging.getLogger(__name__)

# Builds whose last reported status is remembered, to report each change once.
REMEMBERED = 10_000
CONTEXT_PREFIX = "continuous-integration/pipeline-runner"


def status_reporter(services: Services) -> StatusReporter:
    """The reporter of ``services`` (one per application), created on first use."""
    extras = services.extras
    reporter: StatusReporter | None = extras.get("status_reporter")
    if reporter is None:
        reporter = extras.setdefault(
            "status_reporter", StatusReporter(services.stores, services.settings)
        )
    return reporter


def build_url(settings: Settings, repo: Repo, build: Build) -> str:
    """The address of the build's page, the link a commit status carries."""
    return build_page_url(settings.effective_server_url(), repo.slug, build.number)


def status_context(build: Build) -> str:
    """The status name on the forge: one per event kind, so a push and a PR build coexist."""
    kind = "pr" if build.event == "pull_request" else build.event
    return f"{CONTEXT_PREFIX}/{kind}"


class StatusReporter:
    """Sends commit statuses from one background thread (started on first use).

    ``session`` (a ``requests.Session``) is used for every HTTP call when given. ``stop()``
    ends the thread after the queued work; ``wait_idle(timeout)`` blocks until the queue is
    empty and nothing is being sent (tests, shutdown).
    """

    def __init__(
        self, stores: Stores, settings: Settings, *, session: requests.Session | None = None
    ) -> None:
        self.stores = stores
        self.settings = settings
        self.session = session
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._reported: OrderedDict[int, str] = OrderedDict()
        self._watching: set[int] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._busy = 0

    def build_changed(self, build: Build | int) -> None:
        """Queue ``build`` (or its id) to have its current status reported if it changed."""
        build_id = build if isinstance(build, int) else build.id
        with self._idle:
            self._busy += 1
        self._ensure_thread()
        self._queue.put(build_id)

    def poll(self) -> None:
        """Queue every unfinished build, and those that finished since the last poll."""
        active: set[int] = set(self.stores.builds.active_ids())
        with self._lock:
            ended = self._watching - active
            self._watching = active
        for build_id in sorted(active | ended):
            self.build_changed(build_id)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every queued build was handled; False when ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def stop(self) -> None:
        """Finish the queued reports, then end the thread."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=30)

    def report_now(self, build_id: int) -> bool:
        """Report the build's status in this thread; True when a status was sent."""
        try:
            # The header is enough to report; the stages (every spec) are not read at all.
            build = self.stores.builds.header(build_id)
            repo = self.stores.repos.get(build.repo_id)
        except NotFound:
            return False
        if not build.commit:
            return False
        client = status_client(repo, session=self.session)
        if client is None:
            return False
        with self._lock:
            if self._reported.get(build.id) == build.status:
                return False
        report = StatusReport(
            repo=repo.slug,
            commit=build.commit,
            status=build.status,
            target_url=build_url(self.settings, repo, build),
            context=status_context(build),
            ref=build.ref,
            description=_describe(build),
        )
        try:
            client.send(report)
        except RunnerError as exc:
            log.warning("commit status of %s #%s not reported: %s", repo.slug, build.number, exc)
            return False
        with self._lock:
            self._reported[build.id] = build.status
            self._reported.move_to_end(build.id)
            while len(self._reported) > REMEMBERED:
                self._reported.popitem(last=False)
        return True

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="commit-status", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            build_id = self._queue.get()
            if build_id is None:
                return
            try:
                self.report_now(build_id)
            except Exception:  # a reporter bug must not stop later reports
                log.exception("commit status of build %s failed", build_id)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()


def _describe(build: Build) -> str:
    """A line saying why an error build failed; the forge-neutral default otherwise."""
    if build.status == "error" and build.error:
        return "Build errored: " + build.error.splitlines()[0][:100]
    return ""
