"""Reading untrusted pipeline files in worker processes with CPU-time and memory limits.

The budgets of ``runner.pipeline.limits`` bound each step of the pipeline chain; this bounds
the whole of it, whatever a step might have missed: the server hands the chain to a small pool
of worker processes (started with ``spawn``, so no lock of the server's threads is inherited),
each under ``RLIMIT_AS`` (memory) and, for every call, ``RLIMIT_CPU`` (CPU time). A file that
needs more gets a ``BudgetExceeded`` naming the limit; the server's own threads, memory and
stack are never at stake, and the API, webhooks and agents keep being served meanwhile.

``CompileWorker.call(fn, *args)`` runs a module-level function in a worker and returns its
result or raises its exception (``PipelineError`` and friends cross the process boundary
intact). A worker killed by a limit is replaced; calls that were in flight on the broken pool
are tried once more, so only the file that broke it gets the error. Thread-safe.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from runner.errors import PipelineError, RunnerError
from runner.pipeline import limits

log = logging.getLogger(__name__)


def _start_worker(memory_bytes: int) -> None:
    """Initializer of every worker: cap its address space."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, hard))


def _limited(cpu_seconds: int, fn, args, kwargs):
    """In the worker: allow ``cpu_seconds`` more CPU time (RLIMIT_CPU counts the process's
    whole life, so the soft limit moves with each call), then run ``fn``."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + cpu_seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    return fn(*args, **kwargs)


class CompileWorker:
    """A pool of ``processes`` workers, each limited to ``memory_bytes`` of address space and
    ``cpu_seconds`` of CPU time per call; a call also ends after ``wall_seconds`` (the worker
    is then killed). The pool starts at the first call and after a worker was killed."""

    def __init__(
        self,
        *,
        processes: int = limits.COMPILE_PROCESSES,
        cpu_seconds: int = limits.COMPILE_CPU_SECONDS,
        memory_bytes: int = limits.COMPILE_MEMORY_BYTES,
        wall_seconds: float = limits.COMPILE_WALL_SECONDS,
    ):
        self.processes = processes
        self.cpu_seconds = cpu_seconds
        self.memory_bytes = memory_bytes
        self.wall_seconds = wall_seconds
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def call(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` in a worker; its result, or its exception raised here.

        Raises ``BudgetExceeded`` when the worker was killed by a limit or ran out of time.
        """
        for attempt in (1, 2):
            pool = self._get_pool()
            try:
                future = pool.submit(_limited, self.cpu_seconds, fn, args, kwargs)
            except (OSError, RuntimeError) as exc:
                # No process can be started here (a sandbox, no file descriptors left): read
                # in this process, under the budgets of runner.pipeline.limits alone.
                log.warning("no pipeline compile worker (%s); compiling in the server", exc)
                self._discard(pool)
                return fn(*args, **kwargs)
            try:
                return future.result(timeout=self.wall_seconds)
            except BrokenProcessPool:
                self._discard(pool)
                if attempt == 2:
                    raise limits.over_budget(
                        "reading the pipeline files needed more CPU time or memory than a "
                        "worker may use",
                        self.cpu_seconds,
                        f"seconds of CPU time and {self.memory_bytes // (1024 * 1024)} MiB "
                        "of memory",
                    ) from None
                # Another call may have broken the pool: try once more in a fresh one.
            except FutureTimeout:
                self._discard(pool, kill=True)
                raise limits.over_budget(
                    "reading the pipeline files took too long",
                    int(self.wall_seconds),
                    "seconds",
                ) from None
        raise AssertionError("unreachable")

    def start(self) -> None:
        """Start a worker now, without waiting, so the first build does not wait for it."""
        try:
            self._get_pool().submit(int)
        except (OSError, RuntimeError) as exc:
            log.warning("no pipeline compile worker (%s)", exc)

    def close(self) -> None:
        """Stop the workers (a new call starts them again)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self.memory_bytes,),
                )
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor, *, kill: bool = False) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        if kill:
            # A worker over its wall time is still running: end it, the pool with it.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            log.warning("a pipeline compile worker ran out of time and was killed")
        pool.shutdown(wait=False, cancel_futures=True)


@contextmanager
def reading_untrusted(files: dict[str, str]):
    """Turn any failure of the pipeline chain into a ``PipelineError``, so the event still
    gets its ``error`` build (a 500 would make the forge deliver it again and again):
    exhausted stack or memory (the budgets of ``runner.pipeline.limits`` should prevent
    both), or a bug met by an input nobody foresaw (logged with its traceback)."""
    first = next(iter(files), "")
    try:
        yield
    except RunnerError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise PipelineError(
            f"the pipeline file is too complex to read ({type(exc).__name__}): simplify it",
            file=first,
        ) from None
    except Exception:
        log.exception("reading the pipeline files %s failed", ", ".join(files))
        raise PipelineError(
            "the server failed to read this pipeline file (its log has the details); "
            "please report it",
            file=first,
        ) from None


def read_declarations(files: dict[str, str]):
    """In a worker: the budget check of the raw files, then their ``environments:``
    declarations split off (``runner.environments.extract_declarations``)."""
    from runner.environments import extract_declarations
    from runner.pipeline.config import check_files

    check_files(files)
    return extract_declarations(files)


_shared: CompileWorker | None = None
_shared_lock = threading.Lock()


def compile_worker() -> CompileWorker:
    """The process's compile worker pool (one per server process)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = CompileWorker()
        return _shared
