"""Build actions of the pages, through the same store and triggerer calls as the REST API."""

from __future__ import annotations

from runner.core import Build, Repo, User
from runner.errors import Conflict
from runner.server.services import current_services


def cancel(repo: Repo, build: Build) -> None:
    """Ask for the build's cancellation; agents stop its containers at their next heartbeat."""
    services = current_services()
    services.stores.builds.cancel(build.id)
    services.wake_agents()


def restart(repo: Repo, build: Build, user: User) -> Build:
    """A new build of the same commit and event; returns it."""
    services = current_services()
    new = services.triggerer.restart(repo, build, sender=user.login)
    services.wake_agents()
    return new


def approve(repo: Repo, build: Build, user: User) -> None:
    """Let a blocked build run."""
    services = current_services()
    services.stores.builds.approve(build.id, user.login)
    services.wake_agents()


def decline(repo: Repo, build: Build, user: User) -> None:
    """Refuse a blocked build."""
    current_services().stores.builds.decline(build.id, user.login)


def promote(repo: Repo, build: Build, user: User, target: str, event: str) -> Build:
    """A ``promote`` or ``rollback`` build of ``build``'s commit to the environment ``target``."""
    services = current_services()
    trigger = getattr(services.triggerer, "promote", None)
    if trigger is None:
        raise Conflict("this server cannot promote builds yet; use the API when it can")
    new = trigger(repo, build, target=target, event=event, sender=user.login)
    services.wake_agents()
    return new
