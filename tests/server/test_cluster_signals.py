"""Logic of the signals between server processes (``runner.server.cluster``): what a received
notification does, what is ignored, and what a full queue drops. The real path, two and three
server processes on PostgreSQL, is tests/e2e/test_cluster.py."""

from __future__ import annotations

from collections import deque

from runner.server import cluster
from runner.server.cluster import ClusterSignals
from runner.server.livelog import LiveLog
from runner.server.services import QueueSignal


def signals() -> tuple[ClusterSignals, QueueSignal, list[str]]:
    queue = QueueSignal()
    seen: list[str] = []
    made = ClusterSignals("", queue, LiveLog(), stores=None)  # type: ignore[arg-type]
    made.on_state(lambda: seen.append("state"))
    return made, queue, seen


def test_signals_of_other_processes_wake_the_queue_and_the_change_watcher():
    made, queue, seen = signals()
    before = queue.generation
    made.apply("otherproc queue")
    made.apply("otherproc state")
    assert queue.generation == before + 1 and seen == ["state"]
    assert made.received == 2


def test_own_signals_and_anything_malformed_are_ignored_without_stopping_the_listener():
    made, queue, seen = signals()
    before = queue.generation
    for payload in (
        f"{made.origin} queue",  # its own, come back
        "",
        "x",
        "otherproc",
        "otherproc log",
        "otherproc log 1",
        "otherproc log one two",
        "otherproc end",
        "otherproc queue now",
        "otherproc drop-table",
    ):
        made.apply(payload)
    assert queue.generation == before and seen == [] and made.received == 0


def test_a_full_queue_drops_its_oldest_log_signal_never_an_end(monkeypatch):
    monkeypatch.setattr(cluster, "MAX_PENDING", 3)
    items = deque(["end 1", "log 2 0", "log 2 1"])
    cluster._drop_oldest_log(items, lambda s: s.startswith("log "))
    assert list(items) == ["end 1", "log 2 1"]
    ends = deque(["end 1", "end 2", "end 3"])
    cluster._drop_oldest_log(ends, lambda s: s.startswith("log "))
    assert list(ends) == ["end 1", "end 2", "end 3"]  # over the bound rather than lose one
