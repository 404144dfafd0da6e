"""Reading untrusted pipeline files in worker processes with CPU-time and memory limits.

The budgets of ``runner.pipeline.limits`` bound each step of the pipeline chain; this bounds
the whole of it, whatever a step might have missed: the server hands the chain to a small set
of worker processes (started with ``spawn``, so no lock of the server's threads is inherited),
each under ``RLIMIT_AS`` (memory) and, for every call, ``RLIMIT_CPU`` (CPU time). A file that
needs more gets a ``BudgetExceeded`` naming the limit; the server's own threads, memory and
stack are never at stake, and the API, webhooks and agents keep being served meanwhile.

``CompileWorker.call(fn, *args)`` runs a module-level function in a worker and returns its
result or raises its exception (``PipelineError`` and friends cross the process boundary
intact). Each worker is a process of its own with its own pipe, serving one call at a time:
a call waits in a queue for an idle worker (at most ``queue_seconds``), and its wall-time
limit starts only when its worker receives it. A worker that dies or runs out of time is the
only one killed and replaced, so a call running next to it is not disturbed. No call is ever
run in the server's own process: when no worker can be started the call fails with a
``PipelineError`` saying so (the build ends in ``error`` and can be restarted). Thread-safe.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import resource
import signal
import threading
import traceback
from contextlib import contextmanager

from runner.errors import PipelineError, RunnerError
from runner.pipeline import limits

log = logging.getLogger(__name__)

STARTUP_SECONDS = 60.0
"""Time a new worker may take to start (an interpreter and its imports, on a loaded machine)."""

_READY = b"ready"
_RECEIVED = b"received"


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, attached as its ``__cause__`` so the
    server's log shows where in the pipeline chain it happened."""

    def __str__(self) -> str:
        return self.args[0]


def _serve(conn, memory_bytes: int) -> None:
    """A worker's life: cap its address space, then run one call at a time from ``conn``."""
    # Ctrl-C in the server's terminal reaches the whole process group; the server stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, hard))
    import runner.pipeline.config  # noqa: F401  (imported before the first call's clock runs)

    conn.send_bytes(_READY)
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the server closed our pipe: it stopped or replaced us
        conn.send_bytes(_RECEIVED)  # the call's wall time starts now
        try:
            cpu_seconds, fn, args, kwargs = pickle.loads(data)
            outcome = (True, _limited(cpu_seconds, fn, args, kwargs), "")
        except BaseException as exc:  # noqa: BLE001  (every failure goes back to the caller)
            outcome = (False, exc, "".join(traceback.format_exception(exc)))
        try:
            payload = pickle.dumps(outcome)
        except Exception as exc:
            text = f"{type(outcome[1]).__name__} that cannot be sent to the server: {exc}"
            payload = pickle.dumps((False, RuntimeError(text), outcome[2]))
        conn.send_bytes(payload)


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


class _Worker:
    """One worker process and the server's end of its pipe."""

    def __init__(self, memory_bytes: int):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, memory_bytes), name="pipeline-reader", daemon=True
        )
        try:
            self.process.start()
        finally:
            child.close()  # ours closed, so the worker's death reads as EOF here
        self.ready = False

    def wait_ready(self) -> bool:
        """Whether the worker started and is waiting for calls."""
        if not self.ready:
            try:
                self.ready = self.conn.poll(STARTUP_SECONDS) and self.conn.recv_bytes() == _READY
            except (EOFError, OSError):
                self.ready = False
        return self.ready and self.process.is_alive()

    def stop(self, *, kill: bool = False) -> None:
        if kill and self.process.is_alive():
            self.process.kill()
        self.conn.close()  # an idle worker reads EOF and ends
        self.process.join(timeout=5 if not kill else None)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class CompileWorker:
    """Up to ``processes`` workers, each limited to ``memory_bytes`` of address space and
    ``cpu_seconds`` of CPU time per call; a call also ends after ``wall_seconds`` from the
    moment its worker receives it (the worker is then killed). A call waits at most
    ``queue_seconds`` for a free worker. Workers start when first needed and after one died."""

    def __init__(
        self,
        *,
        processes: int = limits.COMPILE_PROCESSES,
        cpu_seconds: int = limits.COMPILE_CPU_SECONDS,
        memory_bytes: int = limits.COMPILE_MEMORY_BYTES,
        wall_seconds: float = limits.COMPILE_WALL_SECONDS,
        queue_seconds: float = limits.COMPILE_QUEUE_SECONDS,
    ):
        self.processes = processes
        self.cpu_seconds = cpu_seconds
        self.memory_bytes = memory_bytes
        self.wall_seconds = wall_seconds
        self.queue_seconds = queue_seconds
        self._slots = threading.BoundedSemaphore(processes)
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def call(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` in a worker; its result, or its exception raised here.

        Raises ``BudgetExceeded`` when the worker was killed by a limit, ran out of time, or
        no worker became free in time; ``PipelineError`` when no worker can be started.
        """
        job = pickle.dumps((self.cpu_seconds, fn, args, kwargs))
        if not self._slots.acquire(timeout=self.queue_seconds):
            raise limits.over_budget(
                f"every one of the server's {self.processes} pipeline readers stayed busy",
                int(self.queue_seconds),
                "seconds of waiting in the queue for a pipeline reader",
                fix="restart the build when the server is less busy",
            )
        try:
            worker = self._send(job)
            try:
                outcome = self._receive(worker)
            except BaseException:
                worker.stop(kill=True)  # (done already unless this thread was interrupted)
                raise
            self._give_back(worker)
        finally:
            self._slots.release()
        ok, value, remote = pickle.loads(outcome)
        if ok:
            return value
        if remote:
            value.__cause__ = RemoteTraceback(remote)
        raise value

    def start(self) -> None:
        """Start a worker now, without waiting, so the first build does not wait for it."""
        with self._lock:
            if self._idle:
                return
        try:
            worker = _Worker(self.memory_bytes)
        except Exception as exc:  # noqa: BLE001  (see _take)
            log.warning("no pipeline compile worker could be started (%s)", exc)
            return
        self._give_back(worker)

    def close(self) -> None:
        """Stop the idle workers (a new call starts them again; busy ones end with their call)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def _send(self, job: bytes) -> _Worker:
        """Hand ``job`` to an idle worker and wait until it says it received it. A worker that
        died idle (killed from outside) never received it: the job goes to a new worker."""
        for _attempt in (1, 2):
            worker = self._take()
            try:
                worker.conn.send_bytes(job)
                if worker.conn.poll(STARTUP_SECONDS) and worker.conn.recv_bytes() == _RECEIVED:
                    return worker
            except (EOFError, OSError):
                pass
            worker.stop(kill=True)
        raise _no_worker("its new worker did not take the call")

    def _receive(self, worker: _Worker) -> bytes:
        """The pickled outcome ``(ok, value, remote traceback)`` of the call ``worker`` got."""
        try:
            finished = worker.conn.poll(self.wall_seconds)
            data = worker.conn.recv_bytes() if finished else b""
        except (EOFError, OSError):
            # The worker died during this call: SIGXCPU at its CPU limit, or killed.
            worker.stop(kill=True)
            raise limits.over_budget(
                "reading the pipeline files needed more CPU time or memory than a worker may use",
                self.cpu_seconds,
                f"seconds of CPU time and {self.memory_bytes // (1024 * 1024)} MiB of memory",
            ) from None
        if not finished:
            worker.stop(kill=True)
            log.warning("a pipeline compile worker ran out of time and was killed")
            raise limits.over_budget(
                "reading the pipeline files took too long", int(self.wall_seconds), "seconds"
            )
        return data

    def _take(self) -> _Worker:
        while True:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is None:
                try:
                    worker = _Worker(self.memory_bytes)
                except Exception as exc:  # noqa: BLE001
                    # OSError (no process or file descriptor left), or AssertionError inside a
                    # daemonic process, which may not start children.
                    raise _no_worker(f"{type(exc).__name__}: {exc}") from None
                if not worker.wait_ready():
                    worker.stop(kill=True)
                    raise _no_worker(f"its new worker did not start in {STARTUP_SECONDS:.0f} s")
                return worker
            if worker.wait_ready():
                return worker
            worker.stop(kill=True)  # died while idle (killed from outside): start another

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            spare = len(self._idle) >= self.processes
            if not spare:
                self._idle.append(worker)
        if spare:  # start() raced with calls: keep no more workers than calls can use
            worker.stop()


def _no_worker(reason: str) -> PipelineError:
    # Never read in the server's own process instead: that is what the workers protect.
    log.error("no pipeline compile worker could be started: %s", reason)
    return PipelineError(
        "the server could not start a process to read the pipeline files "
        f"({reason}); restart the build, and tell the server's admin if it happens again"
    )


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
