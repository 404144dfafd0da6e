"""Signals between the server processes that share one PostgreSQL database.

Each process keeps its live parts in memory: the agents' long-polls wait on its ``QueueSignal``,
live log readers on its ``LiveLog``, viewers on its change watcher. Behind a load balancer a
chunk uploaded to process A must reach a reader on B, a stage queued by A must wake an agent
long-polling B, and a build changed through A must reach B's viewers. PostgreSQL's
``LISTEN``/``NOTIFY`` carries these signals, so no other component has to run.

A notification says only what happened (``queue``, ``state``, ``log STEP SEQ``, ``end STEP``),
never the data (a payload holds at most 8000 bytes): a process that has readers of a step reads
the chunk from the database, where it was committed before the signal was sent. Every process
sends and listens on one channel; its own signals come back to it and are ignored.

Sending never waits on the database in a request: signals go to a queue that one thread sends
in batches (one statement per batch), ``queue`` and ``state`` coalesced. Received ``queue`` and
``state`` signals are applied at once; ``log`` and ``end`` signals go, in order, to a thread of
their own that reads the chunks, so a log flood never delays an agent's wake-up. When the
listening connection is lost (TCP keepalives and a ``SELECT 1`` every ``PROBE_SECONDS`` find a
dead one), the listener reconnects with backoff and then wakes everything local once
(long-polls claim again, the change watcher reads again), since signals sent meanwhile are
gone; a live log reader that missed a chunk sees the gap in the sequence numbers at the next
one and reads the missing chunks from the store, and a stream reads the store once more when
its step ends.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.server.livelog import LiveLog
    from runner.server.services import QueueSignal
    from runner.store import Stores

log = logging.getLogger(__name__)

CHANNEL = "runner_signals"
# Signals waiting to be sent, or received chunks waiting to be read, at most: beyond it the
# oldest log signals are dropped (their readers recover from the store at the next chunk or the
# step's end); ``queue``, ``state`` and ``end`` are never dropped.
MAX_PENDING = 10_000
BATCH = 500  # signals per NOTIFY statement
RECONNECT_SECONDS = (0.5, 1, 2, 5)
PROBE_SECONDS = 30  # the listening connection is checked this often
# libpq's TCP settings: a peer gone without a word is noticed in seconds, not hours.
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def postgres_conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class ClusterSignals:
    """Sends this process's signals to the other server processes and applies theirs.

    ``queue``, ``livelog`` and ``stores`` are this process's; ``on_state`` callbacks run when
    another process committed a build, stage or step change (the change watcher's). Call
    ``start()`` once, ``stop()`` at shutdown.
    """

    def __init__(
        self,
        conninfo: str,
        queue: QueueSignal,
        livelog: LiveLog,
        stores: Stores,
        *,
        connect: Callable[[str], object] | None = None,
    ):
        self.origin = uuid.uuid4().hex[:12]
        self._conninfo = conninfo
        self._queue = queue
        self._livelog = livelog
        self._stores = stores
        self._on_state: list[Callable[[], None]] = []
        self._pending: deque[str] = deque()
        self._flags: set[str] = set()  # coalesced kinds waiting to be sent
        self._cond = threading.Condition()
        self._received: deque[tuple[str, int, int]] = deque()  # (kind, step, seq) to apply
        self._received_cond = threading.Condition()
        self._stopped = threading.Event()
        self._connect = connect or _autocommit_connection
        self._listening = threading.Event()
        self.received = 0  # signals of other processes applied (for tests and metrics)

    # Sending --------------------------------------------------------------------------------

    def queue_changed(self) -> None:
        """A stage may have become claimable (this process's agents were woken already)."""
        self._send_flag("queue")

    def state_committed(self) -> None:
        """A build, stage or step write was committed here."""
        self._send_flag("state")

    def log_published(self, step_id: int, seq: int) -> None:
        """Chunk ``seq`` of the step was stored and handed to this process's readers."""
        self._send(f"log {step_id} {seq}")

    def log_ended(self, step_id: int) -> None:
        """The step ended: readers everywhere may finish once drained."""
        self._send(f"end {step_id}")

    def on_state(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever another process committed a state change."""
        self._on_state.append(callback)

    def _send_flag(self, kind: str) -> None:
        with self._cond:
            if kind not in self._flags:
                self._flags.add(kind)
                self._cond.notify()

    def _send(self, signal: str) -> None:
        with self._cond:
            _drop_oldest_log(self._pending, lambda s: s.startswith("log "))
            self._pending.append(signal)
            self._cond.notify()

    def _take(self) -> list[str]:
        with self._cond:
            self._cond.wait_for(
                lambda: self._pending or self._flags or self._stopped.is_set(), timeout=5
            )
            batch = sorted(self._flags)
            self._flags.clear()
            while self._pending and len(batch) < BATCH:
                batch.append(self._pending.popleft())
            return batch

    def _send_forever(self) -> None:
        connection = None
        backoff = 0
        while not self._stopped.is_set():
            batch = self._take()
            if not batch:
                continue
            payloads = [f"{self.origin} {signal}" for signal in batch]
            try:
                if connection is None:
                    connection = self._connect(self._conninfo)
                connection.execute(  # type: ignore[attr-defined]
                    "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p", (CHANNEL, payloads)
                )
                backoff = 0
            except Exception as exc:  # noqa: BLE001 - any database error: retry on a new one
                log.warning("cluster signals not sent (%s); retrying", exc)
                _close(connection)
                connection = None
                with self._cond:  # the batch goes again, before what came since
                    self._pending.extendleft(reversed([s for s in batch if " " in s]))
                    self._flags.update(s for s in batch if " " not in s)
                self._stopped.wait(RECONNECT_SECONDS[min(backoff, len(RECONNECT_SECONDS) - 1)])
                backoff += 1
        _close(connection)

    # Listening ------------------------------------------------------------------------------

    def _listen_forever(self) -> None:
        backoff = 0
        first = True
        while not self._stopped.is_set():
            connection = None
            try:
                connection = self._connect(self._conninfo)
                connection.execute(f"LISTEN {CHANNEL}")  # type: ignore[attr-defined]
                self._listening.set()
                if not first:
                    self._wake_everything()  # what was sent while away is lost
                first = False
                backoff = 0
                probed = time.monotonic()
                while not self._stopped.is_set():
                    for notify in connection.notifies(timeout=1.0):  # type: ignore[attr-defined]
                        self.apply(notify.payload)
                    if time.monotonic() - probed > PROBE_SECONDS:
                        connection.execute("SELECT 1")  # type: ignore[attr-defined]
                        probed = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - any database error: listen again
                if self._stopped.is_set():
                    break
                log.warning("cluster signals: listening failed (%s); reconnecting", exc)
                self._listening.clear()
                self._stopped.wait(RECONNECT_SECONDS[min(backoff, len(RECONNECT_SECONDS) - 1)])
                backoff += 1
            finally:
                _close(connection)

    def apply(self, payload: str) -> None:
        """Apply one received signal (its own process's are ignored, and so is anything that
        is not a signal of this module)."""
        origin, _, signal = payload.partition(" ")
        if origin == self.origin:
            return
        try:
            kind, *args = signal.split()
            if kind == "queue" and not args:
                self._queue.notify()
            elif kind == "state" and not args:
                for callback in self._on_state:
                    callback()
            elif kind == "log" and len(args) == 2:
                self._hand_over(("log", int(args[0]), int(args[1])))
            elif kind == "end" and len(args) == 1:
                self._hand_over(("end", int(args[0]), 0))
            else:
                return
        except Exception:  # noqa: BLE001 - one bad signal must not stop the listener
            log.warning("cluster signal %r ignored", signal[:100])
            return
        self.received += 1

    def _hand_over(self, item: tuple[str, int, int]) -> None:
        with self._received_cond:
            _drop_oldest_log(self._received, lambda r: r[0] == "log")
            self._received.append(item)
            self._received_cond.notify()

    def _deliver_forever(self) -> None:
        """Read and hand out the chunks other processes stored, and end their steps, in the
        order signalled."""
        while not self._stopped.is_set():
            with self._received_cond:
                self._received_cond.wait_for(
                    lambda: self._received or self._stopped.is_set(), timeout=5
                )
                if not self._received:
                    continue
                kind, step_id, seq = self._received.popleft()
            try:
                if kind == "end":
                    self._livelog.end_here(step_id)
                else:
                    self._deliver_chunk(step_id, seq)
            except Exception:  # noqa: BLE001 - a failed read: the readers re-read at the end
                log.exception("cluster: chunk %s of step %s not delivered", seq, step_id)

    def _deliver_chunk(self, step_id: int, seq: int) -> None:
        if not self._livelog.subscribers(step_id):
            return  # nobody here follows the step: nothing to read
        for found, data, elapsed_ms in self._stores.logs.page(step_id, seq - 1, max_chunks=1):
            if found == seq:
                self._livelog.publish_here(step_id, seq, data, elapsed_ms)

    def _wake_everything(self) -> None:
        self._queue.notify()
        for callback in self._on_state:
            callback()

    # Life -----------------------------------------------------------------------------------

    def start(self, ready_timeout: float = 10.0) -> ClusterSignals:
        """Start the sending and listening threads; wait (a bounded time) until listening."""
        threading.Thread(target=self._send_forever, name="cluster-send", daemon=True).start()
        threading.Thread(target=self._listen_forever, name="cluster-listen", daemon=True).start()
        threading.Thread(target=self._deliver_forever, name="cluster-deliver", daemon=True).start()
        if not self._listening.wait(ready_timeout):
            log.warning("cluster signals: not listening yet; going on, retrying in the background")
        return self

    def stop(self) -> None:
        self._stopped.set()
        with self._cond:
            self._cond.notify_all()
        with self._received_cond:
            self._received_cond.notify_all()


def _drop_oldest_log(items: deque[Any], is_log: Callable[[Any], bool]) -> None:
    """Make room in a full queue by dropping its oldest log signal (never an ``end``)."""
    if len(items) < MAX_PENDING:
        return
    for index, item in enumerate(items):
        if is_log(item):
            del items[index]
            return


def _autocommit_connection(conninfo: str) -> object:
    import psycopg

    return psycopg.connect(conninfo, autocommit=True, connect_timeout=10, **_KEEPALIVES)  # type: ignore[arg-type]


def _close(connection: object) -> None:
    if connection is not None:
        try:
            connection.close()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass
