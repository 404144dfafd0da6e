"""The server reads pipeline files in worker processes: a pipeline error crosses the process
boundary with its file, line and limit; a call over the worker's CPU time, memory or wall time
ends in a BudgetExceeded (or MemoryError) naming the limit, never in the server; the next call
is served by a fresh worker. No call ever runs in the server's process (not after a worker
died, not when none can start); a call's wall time starts when its worker receives it, so a
queued call is not timed out by others' work; only the worker over a limit is killed."""

from __future__ import annotations

import os
import signal
import threading
import time
from multiprocessing.context import SpawnProcess
from pathlib import Path

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


def sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def note_start_then_wait(log: str, flag: str) -> int:
    """Append this worker's pid to ``log`` (one line per run), then wait for ``flag``."""
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    while not os.path.exists(flag):
        time.sleep(0.05)
    return os.getpid()


def wait_for_lines(path: Path, count: int = 1, deadline: float = 60) -> list[str]:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if path.exists() and len(lines := path.read_text().split()) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"{path} did not get {count} line(s) within {deadline} s")


class InThread:
    """``pool.call(...)`` in a thread; ``result()`` returns its value or raises its error."""

    def __init__(self, pool, fn, *args):
        self.outcome: list = []
        self.thread = threading.Thread(target=self._run, args=(pool, fn, args), daemon=True)
        self.thread.start()

    def _run(self, pool, fn, args):
        try:
            self.outcome.append((True, pool.call(fn, *args)))
        except BaseException as exc:  # noqa: BLE001
            self.outcome.append((False, exc))

    def result(self, timeout: float = 120):
        self.thread.join(timeout)
        assert self.outcome, f"the call did not return within {timeout} s"
        ok, value = self.outcome[0]
        if not ok:
            raise value
        return value


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


def dead(process_id: int, deadline: float = 30) -> None:
    """Wait until ``process_id`` has exited (gone, or a zombie nobody has reaped yet)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if Path(f"/proc/{process_id}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {process_id} still runs after {deadline} s")


def test_a_worker_killed_while_idle_is_replaced_and_the_call_never_runs_in_the_server(worker):
    first = worker.call(pid)
    os.kill(first, signal.SIGKILL)
    dead(first)
    second = worker.call(pid)
    assert second not in (first, os.getpid())
    os.kill(second, signal.SIGKILL)  # and a call right after the kill, before it is seen
    assert worker.call(pid) not in (first, second, os.getpid())


def test_calls_next_to_a_worker_dying_of_its_cpu_limit_all_run_in_workers():
    pool = CompileWorker(processes=2, cpu_seconds=1, memory_bytes=512 * 1024**2, wall_seconds=60)
    try:
        spinning = InThread(pool, spin)
        others = [InThread(pool, sleep_then_pid, 0.2) for _ in range(8)]
        with pytest.raises(BudgetExceeded, match="seconds of CPU time"):
            spinning.result()
        pids = {call.result() for call in others}
        assert os.getpid() not in pids
    finally:
        pool.close()


def test_when_no_worker_can_start_the_call_is_an_error_and_never_runs_in_the_server(
    worker, monkeypatch, tmp_path
):
    def cannot_start(self):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(SpawnProcess, "start", cannot_start)
    log = tmp_path / "ran"
    with pytest.raises(PipelineError, match="could not start a process to read the pipeline"):
        worker.call(note_start_then_wait, str(log), str(tmp_path))
    assert not log.exists()


def test_a_queued_call_is_not_timed_out_by_the_calls_before_it():
    # One worker, 8 s of wall time a call, four calls of 4 s at once: the last one waits
    # 12 s in the queue, and still gets its whole 8 s once its worker receives it (4 s of
    # slack for a loaded machine to hand it over).
    pool = CompileWorker(processes=1, cpu_seconds=60, memory_bytes=512 * 1024**2, wall_seconds=8)
    try:
        calls = [InThread(pool, sleep_then_pid, 4) for _ in range(4)]
        assert len({call.result() for call in calls}) == 1  # all served by the one worker
    finally:
        pool.close()


def test_a_call_waits_for_a_free_worker_at_most_the_queue_limit_then_names_the_queue(tmp_path):
    pool = CompileWorker(
        processes=1, cpu_seconds=60, memory_bytes=512 * 1024**2, wall_seconds=120, queue_seconds=1
    )
    log, flag = tmp_path / "log", tmp_path / "flag"
    try:
        busy = InThread(pool, note_start_then_wait, str(log), str(flag))
        wait_for_lines(log)
        with pytest.raises(BudgetExceeded) as info:
            pool.call(pid)
        assert info.value.limit == "1 seconds of waiting in the queue for a pipeline reader"
        assert "pipeline readers stayed busy" in str(info.value)
        flag.touch()
        assert busy.result() == int(wait_for_lines(log)[0])
    finally:
        pool.close()


def test_only_the_worker_over_its_cpu_limit_is_killed(tmp_path):
    pool = CompileWorker(processes=2, cpu_seconds=1, memory_bytes=512 * 1024**2, wall_seconds=120)
    log, flag = tmp_path / "log", tmp_path / "flag"
    try:
        innocent = InThread(pool, note_start_then_wait, str(log), str(flag))
        wait_for_lines(log)
        with pytest.raises(BudgetExceeded, match="seconds of CPU time"):
            pool.call(spin)
        flag.touch()
        served_by = innocent.result()
        assert log.read_text().split() == [str(served_by)]  # ran once, in its first worker
        assert pool.call(pid) == served_by  # and its worker serves on
    finally:
        pool.close()


def test_only_the_worker_over_its_wall_time_is_killed(tmp_path):
    pool = CompileWorker(processes=2, cpu_seconds=60, memory_bytes=512 * 1024**2, wall_seconds=12)
    slow_log, log, flag = tmp_path / "slow", tmp_path / "log", tmp_path / "flag"
    try:
        offender = InThread(pool, note_start_then_wait, str(slow_log), str(tmp_path / "never"))
        wait_for_lines(slow_log)
        # The innocent call starts 6 s after the offender, so its own 12 s outlast the
        # offender's by 6 s: time enough, on a loaded machine, to let it finish once the
        # offender is killed.
        time.sleep(6)
        innocent = InThread(pool, note_start_then_wait, str(log), str(flag))
        wait_for_lines(log)
        with pytest.raises(BudgetExceeded, match="took too long"):
            offender.result()
        flag.touch()
        served_by = innocent.result()
        assert log.read_text().split() == [str(served_by)]  # ran once, in its first worker
        assert slow_log.read_text().split() != [str(served_by)]
        assert pool.call(pid) == served_by  # and its worker serves on
    finally:
        pool.close()


def test_starting_early_again_and_again_keeps_no_more_workers_than_calls_can_use(worker):
    for _ in range(5):
        worker.start()
    calls = [InThread(worker, sleep_then_pid, 0.5) for _ in range(4)]
    assert len({call.result() for call in calls}) == 1  # one process, the worker's limit
