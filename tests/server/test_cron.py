"""The scheduler's jobs on a real repository and database: cron builds whose `when: {cron}`
conditions work, one run per due time even with two schedulers, lease reaping, retention; and
the `runner cron` command."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from test_trigger import Origin, close_services, make_services

from runner.cli import cli
from runner.core import ERROR, PENDING
from runner.server.scheduler import Scheduler, next_run

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
    with pytest.raises(ValueError):
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
    monkeypatch.setattr(hub.stores.crons, "list", lambda **_kw: [stale])
    assert second.run_due_crons(now=AT_THREE) == []
    assert len(hub.stores.builds.list(repo.id)) == 1


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


def test_cron_command(tmp_path, monkeypatch):
    origin = Origin(tmp_path / "git")
    origin.commit({".drone.yml": CRON_PIPELINE}, "Add CI")
    monkeypatch.setenv("RUNNER_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    assert run("repo", "add", "acme/app", "--clone-url", origin.url)[0] == 0
    code, out = run("cron", "add", "acme/app", "nightly", "0 3 * * *")
    assert code == 0 and "next run" in out and "03:00 UTC" in out
    code, out = run("cron", "add", "acme/app", "broken", "every night")
    assert code == 1 and "five-field cron expression" in out
    code, out = run("cron", "ls", "acme/app")
    assert "nightly  '0 3 * * *'  branch=main  enabled  last=never" in out
    code, out = run("cron", "run", "acme/app", "nightly")
    assert code == 0 and "build #1 of acme/app created (pending)" in out
    assert run("cron", "disable", "acme/app", "nightly")[0] == 0
    assert "disabled" in run("cron", "ls", "acme/app")[1]
    assert run("cron", "rm", "acme/app", "nightly")[0] == 0
    assert run("cron", "ls", "acme/app")[1] == ""
    code, out = run("cron", "ls", "acme/nothing")
    assert code == 1 and "no repository acme/nothing" in out
