"""Batching of step log lines on their way from the executor to the server.

One ``LogShipper`` per running stage owns one background thread. ``sink(step_id)`` returns the
``LogSink`` the executor calls per line; lines are gathered per step and uploaded as one chunk
every ``interval`` seconds, or sooner when ``max_lines`` are waiting. Chunks of a step are
numbered (``seq``) and uploaded in order; a failed upload is retried with the same number, which
the server treats as idempotent. When more than ``backlog_lines`` wait (the server is slow or
away), the writing thread blocks: memory stays bounded and no line is dropped.

The per-line path is an append to a ``deque`` (atomic, no lock) and a length check: a step
printing millions of lines must not pay for a lock per line.

Each chunk carries its time: the milliseconds from the step's start (when its sink was made,
just as the executor starts the step) to when the shipper gathered the chunk's lines, on this
agent's monotonic clock, so a skew between the agent's and the server's clocks does not matter.
That is one clock reading per batch, not per line: every line of a chunk has the chunk's time,
at most about ``interval`` after the line was printed while the server keeps up. A resend of
a chunk carries the time it was stamped with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from runner.agent.rpc_client import RpcRefused, RpcUnavailable
from runner.logtext import MAX_ELAPSED_MS
from runner.retry import retry

log = logging.getLogger(__name__)

Upload = Callable[[int, int, bytes, int], None]  # (step id, seq, data, elapsed ms)

# Bytes of one chunk at most: under the server's smallest request body limit (8 MiB), since a
# refused chunk would be lost. A batch of long lines beyond it goes as several chunks.
MAX_CHUNK_BYTES = 4 * 1024 * 1024


def _split(lines: list[str]) -> list[bytes]:
    """``lines`` as consecutive chunks of at most ``MAX_CHUNK_BYTES`` (a character is at most
    4 bytes in UTF-8), or of one line each when a line is longer."""
    budget = MAX_CHUNK_BYTES // 4
    parts: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if parts[-1] and size + len(line) + 1 > budget:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + 1
    return [("\n".join(part) + "\n").encode("utf-8", "replace") for part in parts]


def elapsed_ms(started: float, now: float) -> int:
    """Milliseconds from ``started`` to ``now`` (monotonic seconds), within what the server
    takes."""
    return min(MAX_ELAPSED_MS, max(0, int((now - started) * 1000)))


class _StepBuffer:
    __slots__ = ("lines", "seq", "closed", "inflight", "kicked", "started")

    def __init__(self, started: float) -> None:
        self.lines: deque[str] = deque()
        self.seq = 0
        self.closed = False
        self.inflight = 0
        self.kicked = False
        self.started = started  # the step's start on the shipper's clock


class LogShipper:
    """Uploads the log lines of one stage's steps in batches.

    ``sink(step_id)`` may be called from any thread; each returned sink must be fed by one
    thread at a time (the executor runs one step per thread). ``close_step`` and ``close`` wait
    for the uploads. ``clock`` (monotonic seconds) times the chunks from the step's first
    ``sink`` call.
    """

    def __init__(
        self,
        upload: Upload,
        *,
        interval: float = 0.05,
        max_lines: int = 20_000,
        # Five full batches: enough to keep the uploads going, and each waiting line is a
        # Python string (about 60 bytes for a short one): 500,000 of them cost 20-40 MiB more
        # at the peak of a log flood for no gain in speed.
        backlog_lines: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._upload = upload
        self._clock = clock
        self._interval = interval
        self._max_lines = max_lines
        self._backlog_lines = backlog_lines
        self._buffers: dict[int, _StepBuffer] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._thread.start()

    def sink(self, step_id: int) -> Callable[[str], None]:
        """The per-line sink of one step. Lines arrive without their newline. The first call
        for a step is the step's start, from which its chunks are timed."""
        with self._cond:
            buf = self._buffers.get(step_id)
            if buf is None:
                buf = self._buffers[step_id] = _StepBuffer(self._clock())
        lines = buf.lines
        append = lines.append
        max_lines, backlog = self._max_lines, self._backlog_lines

        def write(line: str) -> None:
            append(line)
            waiting = len(lines)
            if waiting >= max_lines and (not buf.kicked or waiting > backlog):
                self._overflow(buf)

        return write

    def _overflow(self, buf: _StepBuffer) -> None:
        """Wake the shipper for a full batch; block while too much is waiting."""
        with self._cond:
            buf.kicked = True
            self._cond.notify_all()
            while len(buf.lines) > self._backlog_lines and not self._stopping:
                self._cond.wait(0.5)

    def end_step(self, step_id: int) -> None:
        """The step printed its last line: ship the rest now, without waiting for it."""
        with self._cond:
            buf = self._buffers.get(step_id)
            if buf is not None:
                buf.closed = True
                self._cond.notify_all()

    def close_step(self, step_id: int, timeout: float = 60.0) -> None:
        """Ship what remains of the step now and wait until it is uploaded.

        Called before the step's final status is reported, so a reader that sees the step
        finished also finds its whole log stored.
        """
        with self._cond:
            buf = self._buffers.get(step_id)
            if buf is None:
                return
            buf.closed = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: not buf.lines and not buf.inflight, timeout)

    def close(self, timeout: float = 120.0) -> None:
        """Ship everything still buffered, then stop the thread (waits at most ``timeout``)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _take(self) -> list[tuple[_StepBuffer, int, int, bytes, int]]:
        batches = []
        now = None  # the time of every line gathered now, read once lines are found
        for step_id, buf in self._buffers.items():
            count = len(buf.lines)
            if not count:
                continue
            if now is None:
                now = self._clock()
            elapsed = elapsed_ms(buf.started, now)
            pop = buf.lines.popleft
            lines = [pop() for _ in range(count)]
            data = ("\n".join(lines) + "\n").encode("utf-8", "replace")
            chunks = [data] if len(data) <= MAX_CHUNK_BYTES else _split(lines)
            for chunk in chunks:
                batches.append((buf, step_id, buf.seq, chunk, elapsed))
                buf.seq += 1
                buf.inflight += 1
            buf.kicked = False
        return batches

    def _urgent(self) -> bool:
        if self._stopping:
            return True
        return any(b.kicked or (b.closed and b.lines) for b in self._buffers.values())

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._stopping:
                    self._cond.wait_for(self._urgent, self._interval)
                batches = self._take()
                stopping = self._stopping
            for buf, step_id, seq, data, elapsed in batches:
                self._send(step_id, seq, data, elapsed)
                with self._cond:
                    buf.inflight -= 1
                    self._cond.notify_all()
            if stopping and not batches:
                with self._cond:
                    if not any(b.lines for b in self._buffers.values()):
                        return

    def _send(self, step_id: int, seq: int, data: bytes, elapsed: int) -> None:
        try:
            retry(
                lambda: self._upload(step_id, seq, data, elapsed),
                retry_on=RpcUnavailable,
                on_retry=lambda exc, delay: log.warning(
                    "log upload failed, retrying in %.1fs: %s", delay, exc
                ),
            )
        except RpcRefused as exc:
            log.error("log chunk %s of step %s refused, dropped: %s", seq, step_id, exc)
