"""The agent stamps each log chunk with its time since the step started: one clock reading per
batch on the agent's monotonic clock (never one per line), kept unchanged when the chunk is
resent."""

from __future__ import annotations

import threading

from runner.agent.logship import LogShipper, elapsed_ms
from runner.agent.rpc_client import RpcUnavailable
from runner.logtext import MAX_ELAPSED_MS


class Clock:
    """A monotonic clock the test moves by hand, counting how often it is read."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.reads = 0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.reads += 1
            return self.now


class Uploads:
    """Records ``(step, seq, data, elapsed_ms)`` per call; fails the first ``failures``."""

    def __init__(self, failures: int = 0, clock: Clock | None = None):
        self.failures = failures
        self.clock = clock
        self.calls: list[tuple[int, int, bytes, int]] = []

    def __call__(self, step_id: int, seq: int, data: bytes, elapsed: int) -> None:
        self.calls.append((step_id, seq, data, elapsed))
        if self.clock is not None:
            self.clock.now += 60  # a resend happens later: its stamp must not move
        if self.failures:
            self.failures -= 1
            raise RpcUnavailable("server away")


def test_a_chunk_carries_the_time_from_the_steps_start_to_its_gathering():
    clock = Clock()
    uploads = Uploads()
    shipper = LogShipper(uploads, interval=3600, clock=clock)  # ships only when asked
    sink = shipper.sink(1)  # the step starts
    clock.now += 0.25
    sink("a")
    shipper.close_step(1)
    clock.now += 3.0
    sink("b")
    shipper.close_step(1)
    shipper.close()
    assert [(seq, data, ms) for _s, seq, data, ms in uploads.calls] == [
        (0, b"a\n", 250),
        (1, b"b\n", 3250),
    ]


def test_steps_are_timed_from_their_own_start():
    clock = Clock()
    uploads = Uploads()
    shipper = LogShipper(uploads, interval=3600, clock=clock)
    first = shipper.sink(1)
    clock.now += 10
    second = shipper.sink(2)
    clock.now += 2
    first("one")
    second("two")
    shipper.close()
    assert sorted((step, ms) for step, _seq, _data, ms in uploads.calls) == [(1, 12000), (2, 2000)]


def test_lines_do_not_read_the_clock_one_by_one():
    clock = Clock()
    uploads = Uploads()
    shipper = LogShipper(uploads, interval=3600, max_lines=1000, clock=clock)
    sink = shipper.sink(1)
    for i in range(50_000):
        sink(f"line {i}")
    shipper.close()
    lines = b"".join(data for *_rest, data, _ms in uploads.calls).count(b"\n")
    assert lines == 50_000
    # One reading for the step's start, then one per gathering round that found lines (each
    # uploads at least one chunk): far fewer than the 50,000 lines.
    assert clock.reads <= 1 + len(uploads.calls), (
        f"{clock.reads} reads, {len(uploads.calls)} chunks"
    )


def test_a_resent_chunk_keeps_the_time_it_was_stamped_with():
    clock = Clock()
    uploads = Uploads(failures=2, clock=clock)
    shipper = LogShipper(uploads, interval=3600, clock=clock)
    sink = shipper.sink(7)
    clock.now += 1.5
    sink("only line")
    shipper.close()
    assert [(seq, ms) for _s, seq, _d, ms in uploads.calls] == [(0, 1500)] * 3


def test_elapsed_ms_stays_within_what_the_server_takes():
    assert elapsed_ms(10.0, 10.0004) == 0
    assert elapsed_ms(10.0, 9.0) == 0  # never negative
    assert elapsed_ms(0.0, 10.0**9) == MAX_ELAPSED_MS
