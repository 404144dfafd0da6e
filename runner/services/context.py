"""What an action needs from the running server, as a protocol the server's ``Services`` meets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runner.store import Stores


class CronWatcher(Protocol):
    """The part of the scheduler that actions on cron jobs tell about a change."""

    def reload_crons(self) -> None:
        """Take up created, changed and deleted cron jobs now."""


class Hub(Protocol):
    """The stores, the triggerer and the scheduler of one server, and the agents' wake-up.

    ``triggerer`` is None only where no build can be made (some unit tests); ``scheduler`` is
    None when the server runs without background jobs.
    """

    @property
    def stores(self) -> Stores:
        """The stores of the server's database."""

    @property
    def triggerer(self) -> Any:
        """The ``runner.server.trigger.Triggerer`` making builds."""

    @property
    def scheduler(self) -> Any:
        """The running scheduler (a ``CronWatcher``), or None."""

    def wake_agents(self) -> None:
        """Tell waiting agents that a stage may be claimable now."""
