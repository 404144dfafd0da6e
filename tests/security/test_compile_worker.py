"""The server reads pipeline files in worker processes: a pipeline error crosses the process
boundary with its file, line and limit; a call over the worker's CPU time, memory or wall time
ends in a BudgetExceeded (or MemoryError) naming the limit, never in the server; the next call
is served by a fresh worker."""

from __future__ import annotations

import os
import signal
import time

import pytest

from runner.errors import BudgetExceeded, PipelineError
from runner.pipeline import limits
from runner.pipeline.config import load_pipeline
from runner.pipeline.spec import BuildContext
from runner.server.compile_worker import CompileWorker, read_declarations

CTX = BuildContext(repo="a/b", event="push", branch="main", commit="0" * 40)
STEPS = "steps:\n  a:\n    image: alpine\n    commands: [echo]\n"
SEVEN_AXES = "matrix:\n" + "".join(f"  A{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n" for i in range(7))


def spin() -> None:
    while True:
        pass


def allocate(size: int) -> int:
    return len(bytearray(size))


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def pid() -> int:
    return os.getpid()


@pytest.fixture
def worker():
    pool = CompileWorker(processes=1, cpu_seconds=1, memory_bytes=512 * 1024**2, wall_seconds=30)
    yield pool
    pool.close()


def test_the_chain_runs_in_another_process_and_returns_the_compiled_build(worker):
    assert worker.call(pid) != os.getpid()
    compiled = worker.call(load_pipeline, {".woodpecker.yml": STEPS}, CTX)
    assert [s.name for s in compiled.stages] == ["woodpecker"]


def test_a_pipeline_error_arrives_with_file_line_and_limit(worker):
    with pytest.raises(PipelineError) as info:
        worker.call(load_pipeline, {".woodpecker.yml": SEVEN_AXES + STEPS}, CTX)
    assert str(info.value).startswith(".woodpecker.yml:1: ")
    assert f"over the limit of {limits.MAX_MATRIX_COMBINATIONS} matrix combinations" in str(
        info.value
    )
    with pytest.raises(BudgetExceeded) as info:
        worker.call(read_declarations, {".drone.yml": "a: &a [*a]\n"})
    assert (info.value.file, info.value.line, info.value.limit) == (
        ".drone.yml",
        1,
        "0 recursive aliases",
    )


def test_a_call_over_the_cpu_limit_is_stopped_and_the_next_call_works(worker):
    first = worker.call(pid)
    with pytest.raises(BudgetExceeded, match="over the limit of 1 seconds of CPU time"):
        worker.call(spin)
    assert worker.call(pid) != first  # a fresh worker


def test_a_call_over_the_memory_limit_gets_a_memory_error_in_the_worker(worker):
    with pytest.raises(MemoryError):
        worker.call(allocate, 1024**3)
    assert worker.call(allocate, 1024) == 1024


def test_a_killed_worker_is_replaced(worker):
    with pytest.raises(BudgetExceeded):
        worker.call(die)
    assert worker.call(allocate, 10) == 10


def test_a_call_over_the_wall_time_is_ended_with_its_worker():
    pool = CompileWorker(processes=1, cpu_seconds=60, memory_bytes=512 * 1024**2, wall_seconds=2)
    try:
        first = pool.call(pid)
        with pytest.raises(BudgetExceeded, match="took too long"):
            pool.call(time.sleep, 30)
        assert pool.call(pid) != first
    finally:
        pool.close()
