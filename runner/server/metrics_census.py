"""The metric families read from the database at scrape time.

One grouped query per family (``runner.store.census``), never a row per build. Label sets come
from pipeline files, which anyone who can push writes: the queue families keep the
``QUEUE_SERIES_MAX`` largest label sets and add the rest up under ``labels="(other)"``, so no
file can make the scrape (or Prometheus) hold an unbounded number of series.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from runner.store.census import CensusStore, QueuedLabels
from runner.store.db import Database

log = logging.getLogger(__name__)

QUEUE_SERIES_MAX = 50  # label sets of the queue shown one by one
LABEL_VALUE_MAX = 200  # characters of a label set's text kept in a metric label
OTHER = "(other)"


def format_labels(labels: dict[str, str]) -> str:
    """A label set as one metric label value: ``k=v`` pairs sorted by key, comma-separated;
    ``""`` for a stage that asks for no labels."""
    text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return text[:LABEL_VALUE_MAX]


class StoreCollector(Collector):
    """Builds, stages, the queue and the agents' load, read when Prometheus scrapes.

    ``runner_database_up`` says whether the reads worked; when they did not, the other families
    of this collector are absent from that scrape (the process-local ones remain)."""

    def __init__(self, db: Database):
        self.census = CensusStore(db)

    def describe(self) -> list[GaugeMetricFamily]:
        # Described as nothing, so that registering it reads no database.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "runner_database_up", "1 when the database answered this scrape's reads, else 0."
        )
        try:
            families = list(self._read())
        except Exception as exc:  # an unreachable database must not break the scrape
            log.warning("metrics: the database did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> Iterator[GaugeMetricFamily]:
        census = self.census
        builds = GaugeMetricFamily("runner_builds", "Builds by status.", labels=["status"])
        for status, count in sorted(census.builds_by_status().items()):
            builds.add_metric([status], count)
        yield builds
        stages = GaugeMetricFamily("runner_stages", "Stages by status.", labels=["status"])
        for status, count in sorted(census.stages_by_status().items()):
            stages.add_metric([status], count)
        yield stages
        yield from _queue_families(census.queue(), time.time())
        yield from _agent_families(census)


def _queue_families(queued: list[QueuedLabels], now: float) -> Iterator[GaugeMetricFamily]:
    depth = GaugeMetricFamily(
        "runner_queue_stages",
        "Pending stages by the label set they ask of an agent (including stages waiting for "
        "their dependencies).",
        labels=["labels"],
    )
    oldest = GaugeMetricFamily(
        "runner_queue_oldest_wait_seconds",
        "Seconds the oldest pending stage of each label set has waited since it was queued.",
        labels=["labels"],
    )
    shown = queued[:QUEUE_SERIES_MAX]
    rest = queued[QUEUE_SERIES_MAX:]
    series: dict[str, tuple[int, float]] = {}
    for group in shown:
        key = format_labels(group.labels)
        count, first = series.get(key, (0, group.oldest_created))
        series[key] = (count + group.count, min(first, group.oldest_created))
    if rest:
        count, first = series.get(OTHER, (0, now))
        series[OTHER] = (
            count + sum(g.count for g in rest),
            min([first, *(g.oldest_created for g in rest)]),
        )
    for key, (count, first) in sorted(series.items()):
        depth.add_metric([key], count)
        oldest.add_metric([key], max(now - first, 0.0))
    yield depth
    yield oldest


def _agent_families(census: CensusStore) -> Iterator[GaugeMetricFamily]:
    running = GaugeMetricFamily(
        "runner_agent_running_stages", "Stages each registered agent runs now.", labels=["agent"]
    )
    capacity = GaugeMetricFamily(
        "runner_agent_capacity", "Stages each agent may run at once.", labels=["agent"]
    )
    healthy = GaugeMetricFamily(
        "runner_agent_healthy",
        "1 unless the agent reported that it cannot run stages (its engine is down).",
        labels=["agent"],
    )
    contact = GaugeMetricFamily(
        "runner_agent_last_contact_timestamp_seconds",
        "When the agent last called the server (Unix time; 0: never).",
        labels=["agent"],
    )
    for load in census.agent_load():
        running.add_metric([load.name], load.running)
        capacity.add_metric([load.name], load.capacity)
        healthy.add_metric([load.name], 1 if load.healthy else 0)
        contact.add_metric([load.name], load.last_contact)
    yield from (running, capacity, healthy, contact)
