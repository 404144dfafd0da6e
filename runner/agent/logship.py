"""Batching of step log lines on their way from the executor to the server.

One ``LogShipper`` per running stage owns one background thread. ``sink(step_id)`` returns the
``LogSink`` the executor calls per line; lines are gathered per step and uploaded as one chunk
every ``interval`` seconds, or sooner when ``max_bytes`` are waiting. Chunks of a step are numbered
(``seq``) and uploaded in order; a failed upload is retried with the same number, which the server
treats as idempotent. When more than ``backlog_bytes`` wait (the server is slow or away), the
writing thread blocks: memory stays bounded and no line is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from runner.agent.rpc_client import RpcRefused, RpcUnavailable

log = logging.getLogger(__name__)

Upload = Callable[[int, int, bytes], None]


class _StepBuffer:
    __slots__ = ("lines", "size", "seq", "closed", "inflight")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.seq = 0
        self.closed = False
        self.inflight = 0


class LogShipper:
    """Uploads the log lines of one stage's steps in batches. Thread-safe sinks."""

    def __init__(
        self,
        upload: Upload,
        *,
        interval: float = 0.05,
        max_bytes: int = 1 << 20,
        backlog_bytes: int = 8 << 20,
    ):
        self._upload = upload
        self._interval = interval
        self._max_bytes = max_bytes
        self._backlog_bytes = backlog_bytes
        self._buffers: dict[int, _StepBuffer] = {}
        self._pending = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._thread.start()

    def sink(self, step_id: int) -> Callable[[str], None]:
        """The per-line sink of one step. Lines arrive without their newline."""
        with self._cond:
            buf = self._buffers.setdefault(step_id, _StepBuffer())

        def write(line: str) -> None:
            size = len(line) + 1
            with self._cond:
                while self._pending > self._backlog_bytes and not self._stopping:
                    self._cond.wait(0.5)
                buf.lines.append(line)
                buf.size += size
                self._pending += size
                if buf.size >= self._max_bytes:
                    self._cond.notify_all()

        return write

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

    def _take(self) -> list[tuple[int, int, bytes, int]]:
        batches = []
        for step_id, buf in self._buffers.items():
            if not buf.lines:
                continue
            data = ("\n".join(buf.lines) + "\n").encode("utf-8", "replace")
            batches.append((step_id, buf.seq, data, buf.size))
            buf.seq += 1
            buf.inflight += 1
            buf.lines = []
            buf.size = 0
        return batches

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._stopping:
                    self._cond.wait_for(self._urgent, self._interval)
                batches = self._take()
                stopping = self._stopping
            for step_id, seq, data, size in batches:
                self._send(step_id, seq, data)
                with self._cond:
                    self._pending -= size
                    self._buffers[step_id].inflight -= 1
                    self._cond.notify_all()
            if stopping and not batches:
                with self._cond:
                    if not any(b.lines for b in self._buffers.values()):
                        return

    def _urgent(self) -> bool:
        if self._stopping:
            return True
        return any(
            b.size >= self._max_bytes or (b.closed and b.lines) for b in self._buffers.values()
        )

    def _send(self, step_id: int, seq: int, data: bytes) -> None:
        delay = 0.2
        while True:
            try:
                self._upload(step_id, seq, data)
                return
            except RpcRefused as exc:
                log.error("log chunk %s of step %s refused, dropped: %s", seq, step_id, exc)
                return
            except RpcUnavailable as exc:
                log.warning("log upload failed, retrying in %.1fs: %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
