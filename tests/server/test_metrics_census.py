"""The census behind `/metrics` on real SQLite and PostgreSQL databases: pending stages are
grouped by label set (whatever order the file wrote the labels in), builds and stages counted by
status, the agents' load joined with their running stages; and however many label sets pipeline
files ask for, the queue families show at most QUEUE_SERIES_MAX of them plus "(other)"."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.core import Build
from runner.pipeline.spec import CloneSpec, StageSpec, StepSpec
from runner.server.metrics import metrics_of
from runner.server.metrics_census import OTHER, QUEUE_SERIES_MAX
from runner.services.agents import register_agent
from runner.store import Database, Stores, stage_from_spec
from runner.store.census import CensusStore
from tests.server.conftest import auth, user_token


def queue_build(stores, repo, labels_of_stages: list[dict[str, str]]) -> Build:
    """A pending build of one stage per label set."""
    stages = [
        stage_from_spec(
            StageSpec(
                name=f"s{i}",
                number=i,
                labels=labels,
                clone=CloneSpec(disable=True),
                steps=[StepSpec(name="t", image="runner-test/busybox", commands=["true"])],
            )
        )
        for i, labels in enumerate(labels_of_stages, start=1)
    ]
    build = Build(id=0, repo_id=repo.id, number=0, event="push", branch="main", stages=stages)
    return stores.builds.create(build)


def scrape(client, token: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = client.get("/metrics", headers=auth(token))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.get_data(as_text=True))
        for s in family.samples
    }


def test_the_queue_is_grouped_by_label_set_and_builds_and_stages_by_status(stores, repo):
    queue_build(
        stores,
        repo,
        [{"env": "prod", "os": "linux"}, {"os": "linux", "env": "prod"}, {}, {"env": "prod"}],
    )
    census = CensusStore(stores.db)
    groups = {tuple(sorted(q.labels.items())): q.count for q in census.queue()}
    assert groups == {(("env", "prod"), ("os", "linux")): 2, (): 1, (("env", "prod"),): 1}
    assert all(0 < q.oldest_created <= time.time() for q in census.queue())
    assert census.builds_by_status() == {"pending": 1}
    assert census.stages_by_status() == {"pending": 4}


@pytest.mark.postgres
def test_the_census_reads_the_same_on_postgresql(postgres_migrated_url):
    database = Database(postgres_migrated_url)
    try:
        stores = Stores(database)
        repo = stores.repos.create("acme/pg", forge="github", clone_url="file:///nonexistent")
        queue_build(
            stores, repo, [{"env": "prod", "os": "linux"}, {"os": "linux", "env": "prod"}, {}]
        )
        runner = register_agent(stores, "pg-agent", labels={}, capacity=2)
        assert stores.stages.claim(runner) is not None  # the stage without labels
        census = CensusStore(database)
        groups = {tuple(sorted(q.labels.items())): q.count for q in census.queue()}
        assert groups == {(("env", "prod"), ("os", "linux")): 2}
        assert census.stages_by_status() == {"pending": 2, "running": 1}
        assert census.builds_by_status() == {"running": 1}
        loads = [(a.name, a.running, a.capacity) for a in census.agent_load()]
        assert loads == [("pg-agent", 1, 2)]
        assert census.revision()
    finally:
        database.dispose()


def test_an_agent_running_a_stage_counts_it_against_its_capacity(stores, repo):
    queue_build(stores, repo, [{}])
    busy = register_agent(stores, "busy", labels={}, capacity=3)
    register_agent(stores, "idle", labels={}, capacity=1)
    assert stores.stages.claim(busy) is not None
    loads = {
        a.name: (a.running, a.capacity, a.healthy) for a in CensusStore(stores.db).agent_load()
    }
    assert loads == {"busy": (1, 3, True), "idle": (0, 1, True)}
    assert CensusStore(stores.db).queue() == []


def test_label_sets_beyond_the_cap_are_added_up_under_other(client, stores, repo):
    many = QUEUE_SERIES_MAX + 7
    queue_build(stores, repo, [{"k": str(i)} for i in range(many)] + [{"k": "0"}])
    samples = scrape(client, user_token(stores, "admin"))
    depth = {
        dict(labels)["labels"]: v
        for (name, labels), v in samples.items()
        if name == "runner_queue_stages"
    }
    assert len(depth) == QUEUE_SERIES_MAX + 1, sorted(depth)
    assert depth["k=0"] == 2  # the largest group is shown by itself
    assert depth[OTHER] == many - QUEUE_SERIES_MAX
    assert sum(depth.values()) == many + 1
    assert samples[("runner_database_up", frozenset())] == 1


def test_observations_reach_the_scrape(client, services, stores):
    metrics = metrics_of(services)
    metrics.observe_log_write(1234, 0.002, stored=True)
    metrics.observe_log_write(1234, 0.002, stored=False)
    samples = scrape(client, user_token(stores, "admin"))
    assert samples[("runner_log_written_bytes_total", frozenset())] == 1234
    assert samples[("runner_log_write_duration_seconds_count", frozenset())] == 2
