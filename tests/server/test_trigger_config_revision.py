"""The Triggerer numbers the pipeline file it reads (real git, real SQLite and PostgreSQL): the
build and its compiled steps carry the revision, substitution sees it, a restart or promote of an
old build gets its file's own revision back, a file that fails to lint is numbered too (its
error build shows it), and a pull request never takes a number (it gets its file's revision
when that content was built before, else 0)."""

from __future__ import annotations

import pytest

from runner.pipeline.spec import BuildContext
from runner.store import config_digest
from tests.server.test_trigger import (
    SIMPLE,
    Origin,
    add_repo,
    close_services,
    make_services,
    push_event,
)

SUBSTITUTED = SIMPLE + "    environment:\n      VERSION: 1.0-r${CI_CONFIG_REVISION}\n"
CHANGED = SIMPLE.replace("name: test", "name: check")


@pytest.fixture
def origin(tmp_path):
    return Origin(tmp_path / "forge")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub(request, tmp_path):
    url = request.getfixturevalue("postgres_migrated_url") if request.param == "postgres" else ""
    services = make_services(tmp_path, url)
    yield services
    close_services(services)


def _step_env(build) -> dict[str, str]:
    return build.stages[0].spec.steps[-1].environment


def _pull_request(sha: str, number: int = 7) -> BuildContext:
    return BuildContext(
        event="pull_request",
        ref=f"refs/pull/{number}/head",
        commit=sha,
        branch="main",
        source_branch="feature",
        target_branch="main",
        pull_request=number,
        action="opened",
        fork=True,
    )


def test_builds_and_steps_carry_the_revision_of_their_file(hub, origin):
    repo = add_repo(hub, origin)
    first = hub.triggerer.trigger(repo, push_event(origin.commit({".drone.yml": SUBSTITUTED}, "a")))
    changed = hub.triggerer.trigger(repo, push_event(origin.commit({".drone.yml": CHANGED}, "b")))
    assert (first.config_revision, changed.config_revision) == (1, 2)
    assert hub.stores.builds.get(first.id).config_revision == 1
    assert first.context["config_revision"] == 1
    env = _step_env(first)
    assert (env["CI_CONFIG_REVISION"], env["DRONE_CONFIG_REVISION"]) == ("1", "1")
    assert env["VERSION"] == "1.0-r1"  # substituted before the file was compiled
    assert _step_env(changed)["CI_CONFIG_REVISION"] == "2"


def test_restart_and_promote_of_an_old_build_get_its_files_revision(hub, origin):
    # A promote must deploy something: the file has a step for staging.
    deploy = "  - name: deploy\n    image: runner-test/busybox\n    commands: [echo deploy]\n"
    text = (
        SIMPLE + deploy + "    when:\n      target: [staging]\ntrigger:\n  event: [push, promote]\n"
    )
    repo = add_repo(hub, origin)
    hub.stores.environments.create(repo.id, "staging", events=["promote"])
    old = hub.triggerer.trigger(repo, push_event(origin.commit({".drone.yml": text}, "old")))
    newer = text.replace("name: test", "name: check")
    hub.triggerer.trigger(repo, push_event(origin.commit({".drone.yml": newer}, "new")))
    again = hub.triggerer.restart(repo, old, sender="bob")
    promoted = hub.triggerer.promote(repo, old, target="staging", sender="ops")
    assert (again.config_revision, promoted.config_revision) == (1, 1)
    assert _step_env(promoted)["CI_CONFIG_REVISION"] == "1"


def test_a_pull_request_takes_no_number(hub, origin):
    repo = add_repo(hub, origin)
    base = hub.triggerer.trigger(repo, push_event(origin.commit({".drone.yml": SIMPLE}, "base")))
    assert base.config_revision == 1
    proposed = SIMPLE.replace("name: test", "name: proposed")
    pr = hub.triggerer.trigger(
        repo, _pull_request(origin.pull_request(7, {".drone.yml": proposed}, "x"))
    )
    assert pr.config_revision == 0
    assert _step_env(pr)["CI_CONFIG_REVISION"] == "0"
    assert (
        hub.stores.config_revisions.find(repo.id, config_digest({".drone.yml": proposed})) is None
    )
    # Once pushed, the proposed file is the next revision: the pull request took none.
    merged = hub.triggerer.trigger(repo, push_event(origin.commit({".drone.yml": proposed}, "m")))
    assert merged.config_revision == 2


def test_a_pull_request_of_a_built_file_gets_its_revision(hub, origin):
    repo = add_repo(hub, origin)
    hub.triggerer.trigger(repo, push_event(origin.commit({".drone.yml": SIMPLE}, "base")))
    sha = origin.pull_request(8, {"README.md": "docs only\n"}, "docs")
    assert hub.triggerer.trigger(repo, _pull_request(sha, 8)).config_revision == 1


def test_a_file_that_fails_to_lint_is_numbered_and_its_fix_is_the_next(hub, origin):
    repo = add_repo(hub, origin)
    broken = SIMPLE.replace("    image: runner-test/busybox\n", "")
    failed = hub.triggerer.trigger(repo, push_event(origin.commit({".drone.yml": broken}, "x")))
    assert failed.status == "error" and failed.config_revision == 1
    fixed = hub.triggerer.trigger(repo, push_event(origin.commit({".drone.yml": SIMPLE}, "y")))
    assert fixed.status == "pending" and fixed.config_revision == 2
