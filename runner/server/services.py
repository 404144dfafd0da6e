"""The server's shared services, reached from views through ``current_services()``.

``create_app`` builds one ``Services`` per application and stores it in
``app.extensions["runner"]``. Blueprints (API, RPC, hooks, web UI) never build their own stores or
threads: they ask ``current_services()``, and hand it to the actions of ``runner.services``
(``Services`` meets their ``runner.services.context.Hub``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

from runner.settings import Settings

if TYPE_CHECKING:
    from runner.server.login_throttle import LoginThrottle
    from runner.store import Database, Stores


class QueueSignal:
    """Wakes agents' long-polls when work may have become claimable.

    Thread-safe. ``notify()`` is called by whoever queues or unblocks a stage (the triggerer, a
    finished stage, a restart, a requeued lease); ``wait(generation, timeout)`` blocks until a
    notification newer than ``generation`` arrives or the timeout passes, so a notification
    between an empty claim and the wait is never lost.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, generation: int, timeout: float) -> int:
        """Block until the generation moves past ``generation``; return the current one."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != generation, timeout)
            return self._generation


def _new_login_throttle() -> LoginThrottle:
    from runner.server.login_throttle import LoginThrottle

    return LoginThrottle()


@dataclass
class Services:
    """Everything a request handler may need: settings, database, stores and live parts.

    ``triggerer`` and ``scheduler`` are None when their modules are absent (unit tests of other
    parts); ``agent_token`` is the raw token of the embedded agent, kept in memory only.
    """

    settings: Settings
    db: Database
    stores: Stores
    livelog: Any
    queue: QueueSignal = field(default_factory=QueueSignal)
    triggerer: Any = None
    scheduler: Any = None
    agent_token: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    login_throttle: Any = field(default_factory=_new_login_throttle)
    stopping: threading.Event = field(default_factory=threading.Event)
    admission: Any = None  # runner.server.admission.Admission; made from the settings if None
    changes: Any = None  # runner.server.changes.ChangeHub: build changes for the event stream
    cluster: Any = None  # runner.server.cluster.ClusterSignals, on PostgreSQL

    def __post_init__(self) -> None:
        if self.admission is None:
            from runner.server.admission import Admission

            self.admission = Admission(self.settings)
        if self.changes is None:
            from runner.server.changes import ChangeHub

            self.changes = ChangeHub()
        self.db.on_state_commit(self.changes.bump)

    def wake_agents(self) -> None:
        """Tell waiting agents that a stage may be claimable now, here and in the other server
        processes."""
        self.queue.notify()
        if self.cluster is not None:
            self.cluster.queue_changed()

    def begin_shutdown(self) -> None:
        """The process is stopping: long-polls answer now instead of holding the shutdown."""
        self.stopping.set()
        self.queue.notify()


def open_stores(settings: Settings, *, migrate: bool = True) -> Stores:
    """Open the settings' database (migrated) and its stores, for commands run beside a server."""
    from runner.private_files import private_dir
    from runner.store import Database, Stores

    private_dir(settings.data_path)
    db = Database(settings.effective_database_url())
    if migrate:
        db.migrate()
    return Stores(db, settings=settings)


def current_services() -> Services:
    """The ``Services`` of the application handling the current request."""
    services: Services = current_app.extensions["runner"]
    return services
