"""When a stage may start: the one rule the server's queue and ``runner exec`` both apply.

A stage waits until every stage it depends on has ended. Then it runs when its dependencies
went the way its run policy (Drone's ``trigger: status``) wants: ``on-success`` needs them all
successful, ``on-failure`` needs one that was not (failed, errored, killed or skipped),
``always`` runs either way; otherwise it is skipped. Pure: statuses in, a verdict out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from runner.core import DONE_STATUSES, SUCCESS
from runner.pipeline.spec import ALWAYS, ON_FAILURE

RUN = "run"
WAIT = "wait"
SKIP = "skip"


def readiness(depends_on: Iterable[str], run_policy: str, statuses: Mapping[str, str]) -> str:
    """``RUN`` when a stage may start now, ``WAIT`` while a dependency has not ended, ``SKIP``
    when it never will run.

    ``statuses`` holds the status of each stage of the build by name; a dependency missing
    from it (a stage the build left out: trigger not matched) counts as a success, as in Drone.
    """
    if waiting_for(depends_on, statuses):
        return WAIT
    failed = any(statuses[name] != SUCCESS for name in depends_on if name in statuses)
    if run_policy == ALWAYS:
        return RUN
    if run_policy == ON_FAILURE:
        return RUN if failed else SKIP
    return SKIP if failed else RUN


def waiting_for(depends_on: Iterable[str], statuses: Mapping[str, str]) -> list[str]:
    """The dependencies that have not ended yet (what a waiting stage waits for), in order."""
    return [name for name in depends_on if statuses.get(name, SUCCESS) not in DONE_STATUSES]
