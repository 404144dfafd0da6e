"""The server's timed work, run by APScheduler in background threads.

- cron: every ``CRON_TICK`` seconds, each enabled cron job whose schedule (the rule of
  ``runner.services.crons``: five fields or a descriptor such as ``@hourly``, UTC) has come due
  since it last ran makes a ``cron`` build through the triggerer (its ``when: {cron: name}``
  conditions see the job's name). A job missed while the server was down runs once on start.
  A job created or changed counts from that moment (``reload_crons``, called by the cron
  actions). Firing is claimed in the database, so two server processes never both run a job.
- lease reaper: stages whose agent stopped renewing its lease are requeued (at most
  ``MAX_ATTEMPTS`` times) or failed, as ``settings.lost_stage_policy`` says, with the reason; a
  stage of a cancelled build ends ``killed`` instead (cancel always wins). A stage running
  longer than its repository's timeout plus one lease period (its agent did not stop it) ends
  ``killed`` with "timed out after N s". The reaper runs in a thread of its own on the
  monotonic clock, not on APScheduler's wall-clock timer; it holds off for one lease period
  after start and after a jump of the wall clock (``runner.server.leases``), so agents that kept
  working renew their leases before anything is taken back.
- commit statuses: ``StatusReporter.poll`` catches builds that started or ended.
- retention: logs of builds finished longer ago than their repository's
  ``log_retention_days``, else the server's (0 keeps them), and webhook delivery ids older
  than ``hook_replay_days`` are dropped.
- log bucket (with a ``log_store``): every ``LOG_MOVE_TICK`` seconds the logs of ended stages
  move from the database into the bucket, and the objects no log needs are removed
  (``runner.store.logmover``; safe in several processes at once).

Each job is also a plain method of ``Scheduler`` so tests and the CLI can run it at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from runner.core import Build, Cron
from runner.errors import RunnerError
from runner.server.leases import StageAges, SteadyClock
from runner.server.metrics import metrics_of
from runner.server.status import status_reporter
from runner.server.trigger import BuildSkipped
from runner.services.crons import BadSchedule, next_run

if TYPE_CHECKING:
    from runner.server.services import Services

log = logging.getLogger(__name__)

CRON_TICK = 20  # seconds; schedules have minute resolution
STATUS_TICK = 5
RETENTION_TICK = 3600
LOG_MOVE_TICK = 5
# Claims of a stage before a lost agent fails it instead of requeueing: a lost stage is
# requeued once, so a step that kills its agent every time cannot take the fleet down in turn.
MAX_ATTEMPTS = 2


class Scheduler:
    """The timed jobs of one server. ``start()`` runs them in the background; ``shutdown()``.

    ``services`` provides ``settings``, ``stores``, ``triggerer``, ``extras`` and
    ``wake_agents()``. Methods are thread-safe and may be called directly.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.stores = services.stores
        self.settings = services.settings
        # When this process first saw a cron job that never ran, or saw it changed: its
        # schedule counts from then (a job's last run counts when it is later).
        self._counted_from: dict[int, float] = {}
        # (schedule, branch, enabled) of each job as last seen, to notice changes.
        self._seen: dict[int, tuple[str, str, bool]] = {}
        self._crons_lock = threading.Lock()
        self._background: BackgroundScheduler | None = None
        self.clock = SteadyClock()
        self._ages = StageAges()
        self._hold_until = 0.0  # monotonic: no reaping before (after a start or a clock jump)
        self._reaper_stop = threading.Event()

    def start(self) -> Scheduler:
        """Run the jobs in APScheduler's background threads; returns ``self``."""
        # APScheduler logs every run at INFO: keep its warnings and errors only.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        now = datetime.now(UTC)
        background = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1}
        )
        jobs: list[tuple[str, Callable[..., object], int, datetime | None]] = [
            ("cron", self.run_due_crons, CRON_TICK, now),
            ("commit-status", self.sync_statuses, STATUS_TICK, None),
            ("retention", self.purge, RETENTION_TICK, now),
        ]
        if self.stores.log_mover.bucket is not None:
            jobs.append(("log-bucket", self.move_logs, LOG_MOVE_TICK, now))
        for name, job, seconds, first in jobs:
            options = {"next_run_time": first} if first else {}
            background.add_job(
                self._guard(job), "interval", seconds=seconds, id=name, name=name, **options
            )
        background.start()
        self._background = background
        # After a restart, agents that kept running get one lease period to renew before the
        # reaper takes back stages whose lease ran out while the server was down.
        self._hold_until = self.clock.monotonic() + self.settings.lease_seconds
        threading.Thread(target=self._reap_forever, name="lease-reaper", daemon=True).start()
        return self

    def _reap_forever(self) -> None:
        """Reap every third of a lease (at least 2 s), timed on the monotonic clock."""
        tick = max(2, self.settings.lease_seconds // 3)
        reap = self._guard(self.reap_leases)
        while not self._reaper_stop.wait(tick):
            reap()

    def shutdown(self, wait: bool = False) -> None:
        """Stop the background jobs (idempotent)."""
        self._reaper_stop.set()
        if self._background is not None and self._background.running:
            self._background.shutdown(wait=wait)
        status_reporter(self.services).stop()

    # Jobs ---------------------------------------------------------------------------------

    def reload_crons(self, now: float | None = None) -> dict[int, float]:
        """Take up created, changed and deleted cron jobs now rather than at the next tick: a
        new or changed job counts its schedule from ``now``, a deleted one is forgotten.
        Returns ``next_runs()``. Thread-safe; called by the cron actions."""
        self._track(self.stores.crons.matching(), time.time() if now is None else now)
        return self.next_runs()

    def next_runs(self) -> dict[int, float]:
        """When each enabled cron job this scheduler knows fires next, by job id."""
        out: dict[int, float] = {}
        for cron in self.stores.crons.matching(enabled_only=True):
            with self._crons_lock:
                since = max(cron.last_run, self._counted_from.get(cron.id, 0.0))
            try:
                out[cron.id] = next_run(cron.schedule, since or time.time())
            except BadSchedule:
                continue
        return out

    def run_due_crons(self, now: float | None = None) -> list[Build]:
        """Trigger every enabled cron job due at ``now``; the builds made (skips left out)."""
        now = time.time() if now is None else now
        crons = self.stores.crons.matching(enabled_only=True)
        self._track(crons, now, forget_missing=False)
        builds: list[Build] = []
        for cron in crons:
            with self._crons_lock:
                since = max(cron.last_run, self._counted_from.get(cron.id, 0.0))
            try:
                due = next_run(cron.schedule, since) <= now
            except BadSchedule as exc:
                log.warning("cron job %s has a bad schedule %r: %s", cron.name, cron.schedule, exc)
                continue
            if not due or not self.stores.crons.claim_run(cron.id, cron.last_run, now):
                continue
            build = self._fire(cron)
            if build is not None:
                builds.append(build)
        return builds

    def _track(self, crons: list[Cron], now: float, *, forget_missing: bool = True) -> None:
        """Note jobs first seen or changed since last seen (their schedule counts from
        ``now``; a job first seen that ran before counts from its last run, so a run missed
        while the server was down still happens) and forget jobs that are gone."""
        with self._crons_lock:
            if forget_missing:
                present = {cron.id for cron in crons}
                for gone in set(self._seen) - present:
                    self._seen.pop(gone, None)
                    self._counted_from.pop(gone, None)
            for cron in crons:
                shape = (cron.schedule, cron.branch, cron.enabled)
                before = self._seen.get(cron.id)
                if before == shape:
                    continue
                self._seen[cron.id] = shape
                if before is not None or not cron.last_run:
                    self._counted_from[cron.id] = now

    def reap_leases(self, now: float | None = None) -> int:
        """Settle stages whose lease expired before ``now`` or that ran past their timeout;
        how many were handled.

        Without ``now`` the scheduler's ``clock`` is read, and a jump of the wall clock since
        the last call holds reaping of leases for one lease period (timeouts, measured on the
        monotonic clock, still apply). ``now`` (a wall-clock instant) is for tests.
        """
        lease = self.settings.lease_seconds
        if now is None:
            now, mono, jump = self.clock.tick()
        else:
            mono, jump = self.clock.monotonic(), 0.0
        if jump:
            log.warning(
                "the wall clock jumped by %+.0fs: no stage is taken back for %ss, while agents "
                "renew their leases",
                jump,
                lease,
            )
            self._hold_until = mono + lease
            if jump < 0:
                self.stores.stages.cap_leases(now + lease)
        handled = self._time_out(now, mono)
        if mono >= self._hold_until:
            handled += self._take_back_expired(now)
        if handled:
            self.services.wake_agents()
        return handled

    def _take_back_expired(self, now: float) -> int:
        """Requeue or fail (by policy) the stages whose agent stopped renewing its lease."""
        stages = self.stores.stages
        policy = self.settings.lost_stage_policy
        handled = 0
        expired = stages.expired(now)
        names = self.stores.agents.names([s.agent_id for s in expired if s.agent_id is not None])
        for stage in expired:
            agent = names.get(stage.agent_id or 0, f"#{stage.agent_id}")
            reason = (
                f"agent {agent} stopped renewing its lease "
                f"(no heartbeat for {self.settings.lease_seconds}s)"
            )
            if policy == "requeue" and stage.attempts < MAX_ATTEMPTS:
                done = bool(stages.requeue(stage.id, reason, actor="lease-reaper"))
                action = "requeued"
            else:
                if policy == "requeue":
                    reason += f"; gave up after {stage.attempts} attempts"
                done = stages.fail(stage.id, reason, actor="lease-reaper") is not None
                action = "failed"
            if done:
                metrics_of(self.services).stages_taken_back.labels(action).inc()
            handled += done
        return handled

    def _time_out(self, now: float, mono: float) -> int:
        """End stages that ran past their repository's timeout by more than a lease period:
        their agent should have stopped them itself, and did not (or is gone)."""
        stages = self.stores.stages
        running = stages.running_clocks()
        self._ages.keep_only({(r.id, r.started) for r in running})
        handled = 0
        for stage in running:
            if stage.timeout <= 0:
                continue
            age = self._ages.age(stage.id, stage.started, now, mono)
            if age <= stage.timeout + self.settings.lease_seconds:
                continue
            reason = (
                f"timed out after {stage.timeout}s (ended by the server: its agent did not stop it)"
            )
            if stages.time_out(stage.id, reason, actor="timeout") is not None:
                metrics_of(self.services).stages_taken_back.labels("timed_out").inc()
                handled += 1
        return handled

    def sync_statuses(self) -> None:
        """Report commit statuses of builds that changed without telling anyone."""
        status_reporter(self.services).poll()

    def purge(self, now: float | None = None) -> tuple[int, int]:
        """Drop old logs (per each repository's ``log_retention_days``, else the server's) and
        old delivery ids; the counts."""
        now = time.time() if now is None else now
        logs = self.stores.logs.purge_expired(now, self.settings.log_retention_days)
        deliveries = self.stores.hook_deliveries.purge_before(
            now - self.settings.hook_replay_days * 86400
        )
        return logs, deliveries

    def move_logs(self) -> int:
        """Move ended stages' logs into the log bucket, batch after batch for at most one
        tick, and remove the objects no log needs (even when moving failed); how many logs
        moved."""
        mover = self.stores.log_mover
        until = time.monotonic() + LOG_MOVE_TICK
        moved = 0
        try:
            while time.monotonic() < until:
                _picked, done = mover.move_ended()
                moved += done
                if not done:
                    break
        finally:
            mover.remove_due()
        return moved

    # Helpers ------------------------------------------------------------------------------

    def _fire(self, cron: Cron) -> Build | None:
        try:
            repo = self.stores.repos.get(cron.repo_id)
            if not repo.active:
                return None
            build = self.services.triggerer.cron(repo, cron)
        except BuildSkipped as skipped:
            log.info("cron job %s made no build: %s", cron.name, skipped)
            return None
        except RunnerError as exc:
            log.warning("cron job %s failed to trigger: %s", cron.name, exc)
            return None
        log.info("cron job %s made build #%s of %s", cron.name, build.number, repo.slug)
        return build

    @staticmethod
    def _guard(job):
        """Run ``job`` logging any error, so one failure never stops the schedule."""

        def run():
            try:
                job()
            except Exception:
                log.exception("scheduled job %s failed", getattr(job, "__name__", job))

        run.__name__ = getattr(job, "__name__", "job")
        return run


def start_scheduler(app, services) -> Scheduler:
    """Start the server's timed jobs for ``services``; returns the running ``Scheduler``."""
    return Scheduler(services).start()
