"""The one readiness rule of stages (``runner.pipeline.readiness``), shared by the server's queue
and ``runner exec``: a stage waits for its dependencies to end, then runs or is skipped by its
run policy; a dependency the build left out counts as a success."""

from __future__ import annotations

import pytest

from runner.pipeline.readiness import RUN, SKIP, WAIT, readiness, waiting_for
from runner.pipeline.spec import ALWAYS, ON_FAILURE, ON_SUCCESS


@pytest.mark.parametrize("pending", ["pending", "running", "waiting", "blocked"])
@pytest.mark.parametrize("policy", [ON_SUCCESS, ON_FAILURE, ALWAYS])
def test_a_stage_waits_while_any_dependency_has_not_ended(pending, policy):
    statuses = {"build": "failure", "test": pending}
    assert readiness(["build", "test"], policy, statuses) == WAIT


@pytest.mark.parametrize(
    ("dependency", "on_success", "on_failure", "always"),
    [
        ("success", RUN, SKIP, RUN),
        ("failure", SKIP, RUN, RUN),
        ("error", SKIP, RUN, RUN),
        ("killed", SKIP, RUN, RUN),
        ("skipped", SKIP, RUN, RUN),  # a skipped dependency did not succeed
        ("declined", SKIP, RUN, RUN),
    ],
)
def test_an_ended_dependency_decides_by_the_run_policy(dependency, on_success, on_failure, always):
    statuses = {"build": dependency}
    assert readiness(["build"], ON_SUCCESS, statuses) == on_success
    assert readiness(["build"], ON_FAILURE, statuses) == on_failure
    assert readiness(["build"], ALWAYS, statuses) == always


def test_one_failed_dependency_among_successes_counts_as_a_failure():
    statuses = {"a": "success", "b": "failure", "c": "success"}
    assert readiness(["a", "b", "c"], ON_SUCCESS, statuses) == SKIP
    assert readiness(["a", "b", "c"], ON_FAILURE, statuses) == RUN


def test_a_dependency_the_build_left_out_counts_as_a_success():
    assert readiness(["not-in-build"], ON_SUCCESS, {"other": "running"}) == RUN
    assert readiness(["not-in-build"], ON_FAILURE, {}) == SKIP


def test_a_stage_without_dependencies_runs_unless_it_wants_a_failure():
    assert readiness([], ON_SUCCESS, {}) == RUN
    assert readiness([], ALWAYS, {}) == RUN
    assert readiness([], ON_FAILURE, {}) == SKIP


def test_waiting_for_names_the_dependencies_not_ended_in_their_order():
    statuses = {"a": "running", "b": "success", "c": "pending"}
    assert waiting_for(["c", "b", "a", "gone"], statuses) == ["c", "a"]
