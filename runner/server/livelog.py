"""Per-process fan-out of log lines to live subscribers (the SSE streams of the API and UI).

The store persists every chunk first; ``LiveLog`` only carries chunks to readers that are
connected now. Each subscriber has a bounded buffer: when a slow reader falls behind, its oldest
chunks are dropped, so it sees a gap in the sequence numbers and re-reads those chunks from the
store. Memory never grows with a slow client.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from runner.logtext import split_lines

# Per-subscriber buffer limits: whichever is reached first drops the oldest chunks.
MAX_BUFFERED_CHUNKS = 512
MAX_BUFFERED_BYTES = 2 * 1024 * 1024

Item = tuple[int, list[str], int | None]  # (seq, lines, the chunk's ms since the step started)


def _as_lines(data: bytes | str | Iterable[str]) -> list[str]:
    if isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data).decode("utf-8", "replace")
    if isinstance(data, str):
        return split_lines(data)
    return list(data)


class Subscription:
    """The live chunks of one step for one reader, from ``LiveLog.subscribe``.

    Iterating yields ``(seq, lines, elapsed_ms)`` in the order published, skipping
    ``seq <= after``, and ``None`` whenever ``timeout`` seconds pass without a chunk (time for a
    keep-alive). Iteration ends after ``close()`` or ``LiveLog.end(step_id)`` once the buffer
    is drained. Consume it from one thread; ``close`` may come from any.
    """

    def __init__(
        self,
        hub: LiveLog,
        step_id: int,
        after: int,
        timeout: float,
        max_chunks: int,
        max_bytes: int,
        wake: Callable[[], None] | None = None,
    ):
        self.step_id = step_id
        self.after = after
        self.timeout = timeout
        self.dropped = 0  # chunks dropped because the reader was slow
        self._hub = hub
        self._cond = threading.Condition()
        self._items: deque[tuple[Item, int]] = deque()  # (item, its size in characters)
        self._bytes = 0
        self._max_chunks = max_chunks
        self._max_bytes = max_bytes
        self._ended = False
        self._wake = wake

    def _push(self, item: Item, size: int) -> None:
        with self._cond:
            if self._ended or item[0] <= self.after:
                return
            self._items.append((item, size))
            self._bytes += size
            while len(self._items) > 1 and (
                len(self._items) > self._max_chunks or self._bytes > self._max_bytes
            ):
                _item, old = self._items.popleft()
                self._bytes -= old
                self.dropped += 1
            self._cond.notify()
        if self._wake is not None:
            self._wake()

    def _end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()
        if self._wake is not None:
            self._wake()

    @property
    def ended(self) -> bool:
        """The step finished (or the subscription was closed): no more chunks will come."""
        with self._cond:
            return self._ended

    def drain(self) -> list[Item]:
        """The chunks buffered now, oldest first, without waiting (for a reader that waits on
        its own ``wake`` for several subscriptions at once)."""
        with self._cond:
            items = [item for item, _size in self._items]
            self._items.clear()
            self._bytes = 0
            if items:
                self.after = items[-1][0]
            return items

    def close(self) -> None:
        """Stop receiving; safe twice and from another thread."""
        self._hub._remove(self)
        self._end()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Item | None]:
        return self

    def __next__(self) -> Item | None:
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while not self._items:
                if self._ended:
                    raise StopIteration
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            item, size = self._items.popleft()
            self._bytes -= size
            self.after = item[0]
            return item


class LiveLog:
    """Fan-out hub: ``publish`` from the RPC handler, ``subscribe`` from stream handlers.

    Thread-safe. Publishing to a step nobody watches costs a dictionary lookup (bytes are only
    decoded into lines when someone listens).
    """

    def __init__(
        self, *, max_chunks: int = MAX_BUFFERED_CHUNKS, max_bytes: int = MAX_BUFFERED_BYTES
    ):
        self._lock = threading.Lock()
        self._subscribers: dict[int, set[Subscription]] = {}
        self._max_chunks = max_chunks
        self._max_bytes = max_bytes
        # ``runner.server.cluster.ClusterSignals`` when other server processes share the
        # database: what is published or ended here is signalled to them.
        self.relay: Any = None

    def publish(
        self,
        step_id: int,
        seq: int,
        lines: bytes | str | Iterable[str],
        elapsed_ms: int | None = None,
    ) -> None:
        """Hand chunk ``seq`` of the step (lines, or text/bytes split into lines) and its time
        since the step started to readers, here and (through ``relay``) in the other server
        processes."""
        self.publish_here(step_id, seq, lines, elapsed_ms)
        if self.relay is not None:
            self.relay.log_published(step_id, seq)

    def publish_here(
        self,
        step_id: int,
        seq: int,
        lines: bytes | str | Iterable[str],
        elapsed_ms: int | None = None,
    ) -> None:
        """Hand chunk ``seq`` of the step to this process's readers only."""
        with self._lock:
            targets = list(self._subscribers.get(step_id, ()))
        if not targets:
            return
        lines = _as_lines(lines)
        size = sum(len(line) + 1 for line in lines)
        item = (seq, lines, elapsed_ms)
        for subscription in targets:
            subscription._push(item, size)

    def subscribe(
        self,
        step_id: int,
        after_seq: int = -1,
        *,
        timeout: float = 15.0,
        wake: Callable[[], None] | None = None,
    ) -> Subscription:
        """Start receiving the step's chunks with ``seq > after_seq``; close it when done.

        Subscribe before reading the stored chunks, then skip what the store already gave, so
        no chunk published in between is missed. ``wake`` is called (on the publishing thread)
        whenever a chunk arrives or the step ends.
        """
        subscription = Subscription(
            self, step_id, after_seq, timeout, self._max_chunks, self._max_bytes, wake
        )
        with self._lock:
            self._subscribers.setdefault(step_id, set()).add(subscription)
        return subscription

    def end(self, step_id: int) -> None:
        """The step is finished: its readers' iterations end once they have drained, here and
        in the other server processes."""
        self.end_here(step_id)
        if self.relay is not None:
            self.relay.log_ended(step_id)

    def end_here(self, step_id: int) -> None:
        """The step is finished, for this process's readers."""
        with self._lock:
            targets = self._subscribers.pop(step_id, set())
        for subscription in targets:
            subscription._end()

    def subscribers(self, step_id: int) -> int:
        """How many readers follow the step now."""
        with self._lock:
            return len(self._subscribers.get(step_id, ()))

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            readers = self._subscribers.get(subscription.step_id)
            if readers is not None:
                readers.discard(subscription)
                if not readers:
                    del self._subscribers[subscription.step_id]
