"""The scheduler's jobs on a real repository and database: cron builds whose `when: {cron}`
conditions work, one run per due time even with two schedulers, jobs made, changed and deleted
through the cron actions taken up at once, the schedule descriptors, lease reaping, retention
(`runner cron` is tested against a real server in tests/cli)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest
from test_trigger import Origin, close_services, make_services

from runner.core import ERROR, PENDING
from runner.errors import BadRequest
from runner.server.scheduler import Scheduler
from runner.services import crons as cron_actions
from runner.services.crons import next_run

CRON_PIPELINE = """\
kind: pipeline
type: docker
name: default
steps:
  - name: always
    image: runner-test/busybox
    commands: [echo always]
  - name: nightly-only
    image: runner-test/busybox
    commands: [echo night]
    when:
      cron: [nightly]
  - name: weekly-only
    image: runner-test/busybox
    commands: [echo week]
    when:
      cron: [weekly]
  - name: push-only
    image: runner-test/busybox
    commands: [echo push]
    when:
      event: [push]
"""

# 2026-11-20 02:00 UTC, an hour before the nightly job's time.
BEFORE = datetime(2026, 11, 20, 2, 0, tzinfo=UTC).timestamp()
AT_THREE = datetime(2026, 11, 20, 3, 0, 30, tzinfo=UTC).timestamp()
NEXT_DAY = datetime(2026, 11, 21, 3, 0, 30, tzinfo=UTC).timestamp()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub(request, tmp_path):
    url = request.getfixturevalue("postgres_migrated_url") if request.param == "postgres" else ""
    services = make_services(tmp_path, url)
    yield services
    close_services(services)


@pytest.fixture
def repo(hub, tmp_path):
    origin = Origin(tmp_path / "git")
    origin.commit({".drone.yml": CRON_PIPELINE}, "Add CI")
    return hub.stores.repos.create("acme/app", forge="github", clone_url=origin.url)


def test_next_run_is_strictly_after():
    assert next_run("0 3 * * *", BEFORE) == datetime(2026, 11, 20, 3, 0, tzinfo=UTC).timestamp()
    three = datetime(2026, 11, 20, 3, 0, tzinfo=UTC).timestamp()
    assert next_run("0 3 * * *", three) == three + 86400
    with pytest.raises(BadRequest):
        next_run("every day", BEFORE)


def test_due_cron_job_makes_a_cron_build_with_its_conditions(hub, repo):
    job = hub.stores.crons.create(repo.id, "nightly", "0 3 * * *")
    scheduler = Scheduler(hub)
    assert scheduler.run_due_crons(now=BEFORE) == []  # first seen: counts from now
    (build,) = scheduler.run_due_crons(now=AT_THREE)
    assert build.event == "cron" and build.branch == "main" and build.sender == "cron"
    assert build.context["cron"] == "nightly"
    steps = [step.name for step in build.stages[0].steps]
    assert steps == ["clone", "always", "nightly-only"]
    assert hub.stores.crons.get(job.id).last_run == AT_THREE
    assert scheduler.run_due_crons(now=AT_THREE + 60) == []
    (second,) = scheduler.run_due_crons(now=NEXT_DAY)
    assert second.number == build.number + 1


def test_a_run_missed_while_down_runs_once(hub, repo):
    job = hub.stores.crons.create(repo.id, "nightly", "0 3 * * *")
    hub.stores.crons.mark_run(job.id, BEFORE - 10 * 86400)
    builds = Scheduler(hub).run_due_crons(now=AT_THREE)
    assert len(builds) == 1


def test_two_schedulers_fire_a_job_once(hub, repo, monkeypatch):
    job = hub.stores.crons.create(repo.id, "nightly", "0 3 * * *")
    hub.stores.crons.mark_run(job.id, BEFORE)
    first, second = Scheduler(hub), Scheduler(hub)
    stale = hub.stores.crons.get(job.id)
    assert len(first.run_due_crons(now=AT_THREE)) == 1
    # The second scheduler (another process) read the job before the first one fired it.
    monkeypatch.setattr(hub.stores.crons, "matching", lambda **_kw: [stale])
    assert second.run_due_crons(now=AT_THREE) == []
    assert len(hub.stores.builds.page_of_repo(repo.id)) == 1


def test_disabled_jobs_and_bad_schedules_do_not_run(hub, repo, caplog):
    job = hub.stores.crons.create(repo.id, "nightly", "0 3 * * *")
    hub.stores.crons.mark_run(job.id, BEFORE)
    hub.stores.crons.update(job.id, enabled=False)
    broken = hub.stores.crons.create(repo.id, "weekly", "61 * * * *")
    hub.stores.crons.mark_run(broken.id, BEFORE)
    with caplog.at_level(logging.WARNING, logger="runner.server.scheduler"):
        assert Scheduler(hub).run_due_crons(now=AT_THREE) == []
    assert "bad schedule" in caplog.text


def _running_stage(hub, repo):
    build = hub.triggerer.manual(repo)
    agent = hub.stores.agents.create("agent-1")
    stage = hub.stores.stages.claim(agent, lease_seconds=30, now=1000.0)
    assert stage is not None and stage.build_id == build.id
    return build, stage


def test_lease_reaper_requeues_a_lost_stage(hub, repo):
    build, stage = _running_stage(hub, repo)
    scheduler = Scheduler(hub)
    assert scheduler.reap_leases(now=1010.0) == 0  # lease still valid
    assert scheduler.reap_leases(now=2000.0) == 1
    assert hub.stores.stages.get(stage.id).status == PENDING


def test_lease_reaper_fails_a_lost_stage_when_told_to(hub, repo):
    build, stage = _running_stage(hub, repo)
    hub.settings.lost_stage_policy = "fail"
    assert Scheduler(hub).reap_leases(now=2000.0) == 1
    failed = hub.stores.stages.get(stage.id)
    assert failed.status == ERROR and "stopped renewing its lease" in failed.error
    assert hub.stores.builds.get(build.id).status == ERROR


def test_retention_drops_logs_of_old_builds_only(hub, repo):
    build, stage = _running_stage(hub, repo)
    step = stage.steps[1]
    hub.stores.logs.append(step.id, 0, ["hello from an old build"])
    hub.stores.stages.done(stage.id, "success", now=1000.0)
    scheduler = Scheduler(hub)
    assert scheduler.purge(now=1000.0 + 86400 * 30) == (0, 0)  # retention off by default
    hub.settings.log_retention_days = 7
    assert scheduler.purge(now=1000.0 + 86400 * 3)[0] == 0  # not old enough yet
    logs, _ = scheduler.purge(now=1000.0 + 86400 * 8)
    assert logs == 1
    assert b"".join(hub.stores.logs.iter_raw(step.id)) == b""


def test_purge_drops_old_delivery_ids(hub, repo):
    hub.stores.hook_deliveries.record(repo.id, "old-delivery")
    days = hub.settings.hook_replay_days + 1
    logs, deliveries = Scheduler(hub).purge(now=datetime.now(UTC).timestamp() + days * 86400)
    assert deliveries == 1 and logs == 0
    assert hub.stores.hook_deliveries.get(repo.id, "old-delivery") is None


def test_background_scheduler_starts_and_stops(hub, repo):
    scheduler = Scheduler(hub).start()
    scheduler.shutdown(wait=True)


def _admin(hub):
    return hub.stores.users.create("ops", "a-long-password-1", is_admin=True)


def test_a_job_made_through_the_actions_counts_from_its_creation(hub, repo):
    # Before, a job counted from the scheduler's first tick after its creation: an @hourly job
    # added just before the hour skipped that hour.
    hub.scheduler = scheduler = Scheduler(hub)
    job = cron_actions.create_cron(hub, repo, _admin(hub), name="hourly", schedule="@hourly")
    made = time.time()
    due = cron_actions.next_run("@hourly", made - 1)
    assert scheduler.next_runs()[job.id] in (due, cron_actions.next_run("@hourly", made))
    (build,) = scheduler.run_due_crons(now=due + 1)
    assert build.event == "cron" and build.context["cron"] == "hourly"
    assert hub.stores.audit.matching(subject="repo:acme/app")[0].actor == "ops"


def test_the_scheduler_takes_up_changed_and_deleted_jobs(hub, repo):
    hub.scheduler = scheduler = Scheduler(hub)
    ops = _admin(hub)
    job = cron_actions.create_cron(hub, repo, ops, name="nightly", schedule="0 3 * * *")
    hub.stores.crons.mark_run(job.id, time.time() - 2 * 86400)  # last ran two days ago
    scheduler.run_due_crons()  # its missed run: as after a restart, it runs once
    hub.stores.crons.mark_run(job.id, time.time() - 2 * 86400)
    # Moved to 04:00: the new schedule counts from the change, so its 04:00 of two days ago,
    # never due under the old schedule, makes no build now.
    before = time.time()
    changed = cron_actions.update_cron(hub, repo, job, ops, schedule="0 4 * * *")
    assert changed.schedule == "0 4 * * *"
    planned = scheduler.next_runs()[job.id]
    assert planned in (next_run("0 4 * * *", before), next_run("0 4 * * *", time.time()))
    assert scheduler.run_due_crons(now=planned - 60) == []
    (build,) = scheduler.run_due_crons(now=planned + 1)
    assert build.context["cron"] == "nightly"

    cron_actions.delete_cron(hub, repo, hub.stores.crons.get(job.id), ops)
    assert job.id not in scheduler.next_runs()
    assert scheduler.run_due_crons(now=planned + 2 * 86400) == []
    kinds = [e.kind for e in hub.stores.audit.matching(subject="repo:acme/app")]
    assert kinds == ["cron.deleted", "cron.changed", "cron.created"]


@pytest.mark.parametrize(
    ("descriptor", "fires"),
    [
        ("@hourly", datetime(2026, 11, 20, 3, 0, tzinfo=UTC)),
        ("@daily", datetime(2026, 11, 21, 0, 0, tzinfo=UTC)),
        ("@midnight", datetime(2026, 11, 21, 0, 0, tzinfo=UTC)),
        ("@weekly", datetime(2026, 11, 22, 0, 0, tzinfo=UTC)),  # a Sunday
        ("@monthly", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
        ("@yearly", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("@annually", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_descriptors_fire_as_robfig_cron_defines_them(descriptor, fires):
    # github.com/robfig/cron doc.go, "Predefined schedules": @yearly (or @annually) is
    # 0 0 1 1 *, @monthly 0 0 1 * *, @weekly 0 0 * * 0, @daily (or @midnight) 0 0 * * *,
    # @hourly 0 * * * *.
    assert cron_actions.next_run(descriptor, BEFORE) == fires.timestamp()


@pytest.mark.parametrize(
    ("weekday", "fires"),
    [
        ("0", datetime(2026, 11, 22, 3, 0, tzinfo=UTC)),  # Sunday, as in crontab(5)
        ("7", datetime(2026, 11, 22, 3, 0, tzinfo=UTC)),  # Sunday too
        ("sun", datetime(2026, 11, 22, 3, 0, tzinfo=UTC)),
        ("1-5", datetime(2026, 11, 20, 3, 0, tzinfo=UTC)),  # 2026-11-20 is a Friday
        ("6", datetime(2026, 11, 21, 3, 0, tzinfo=UTC)),  # Saturday
        ("1/2", datetime(2026, 11, 20, 3, 0, tzinfo=UTC)),  # Monday, Wednesday, Friday
        ("MON", datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),
    ],
)
def test_weekday_numbers_count_from_sunday(weekday, fires):
    # APScheduler's own crontab reading counts 0 as Monday: a Drone job "0 3 * * 0" would run
    # on Mondays. The rule hands it day names instead.
    assert next_run(f"0 3 * * {weekday}", BEFORE) == fires.timestamp()


@pytest.mark.parametrize("weekday", ["8", "5-1", "x", "1/0"])
def test_a_bad_weekday_is_refused(weekday):
    with pytest.raises(BadRequest, match="day of week|not a day"):
        next_run(f"0 3 * * {weekday}", BEFORE)
